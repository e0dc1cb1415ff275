// The events page (being built).
import { html } from '../html.js';

export function Events() {
  return html`
    <section id="events" aria-labelledby="events-title">
      <div class="bar"><h2 id="events-title">Events</h2></div>
      <p class="hint">This page is being built.</p>
    </section>`;
}
