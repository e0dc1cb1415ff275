// The access page (being built).
import { html } from '../html.js';

export function Access() {
  return html`
    <section id="access" aria-labelledby="access-title">
      <div class="bar"><h2 id="access-title">Access</h2></div>
      <p class="hint">This page is being built.</p>
    </section>`;
}
