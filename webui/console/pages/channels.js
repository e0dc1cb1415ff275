// The channels page (being built).
import { html } from '../html.js';

export function Channels() {
  return html`
    <section id="channels" aria-labelledby="channels-title">
      <div class="bar"><h2 id="channels-title">Channels</h2></div>
      <p class="hint">This page is being built.</p>
    </section>`;
}
