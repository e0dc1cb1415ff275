// The ladders page (being built).
import { html } from '../html.js';

export function Ladders() {
  return html`
    <section id="ladders" aria-labelledby="ladders-title">
      <div class="bar"><h2 id="ladders-title">Ladders</h2></div>
      <p class="hint">This page is being built.</p>
    </section>`;
}
