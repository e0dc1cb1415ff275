// The cloud page: the box's side of its control plane. #/cloud is the sync status (every
// role reads it); #/cloud/enrollment enrolls the box or leaves the control plane,
// #/cloud/upload takes a signed bundle by hand (air-gapped sites) and #/cloud/webhooks
// manages the receivers of lifecycle events, the last three with the fleet permission
// (not shown to other roles).
import { html } from '../html.js';
import { can } from '../common.js';
import { StatusView } from '../cloud-status.js';
import { EnrollView } from '../cloud-enroll.js';
import { UploadView } from '../cloud-upload.js';
import { WebhooksView } from '../cloud-webhooks.js';

// The views, in the order of the sub-navigation; needs: the permission they need.
const VIEWS = [
  { path: '', title: 'Sync status', component: StatusView },
  { path: 'enrollment', title: 'Enrollment', needs: 'fleet', component: EnrollView },
  { path: 'upload', title: 'Upload a bundle', needs: 'fleet', component: UploadView },
  { path: 'webhooks', title: 'Webhooks', needs: 'fleet', component: WebhooksView },
];

function SubNav({ session, current }) {
  return html`
    <nav class="subnav" aria-label="Cloud views">
      ${VIEWS.filter((v) => !v.needs || can(session, v.needs)).map((v) => html`
        <a key=${v.path} href=${v.path ? `#/cloud/${v.path}` : '#/cloud'} data-needs=${v.needs || null}
          aria-current=${current === v ? 'page' : null}>${v.title}</a>`)}
    </nav>`;
}

export function Cloud({ session, path }) {
  const view = VIEWS.find((v) => v.path === (path || '').split('/')[0]) || VIEWS[0];
  const body = view.needs && !can(session, view.needs)
    ? html`<p class="hint" id="cloud-needs">${view.title} needs the ${view.needs} permission.</p>`
    : html`<${view.component} session=${session} />`;
  return html`
    <section id="cloud" aria-labelledby="cloud-title">
      <div class="bar"><h2 id="cloud-title">Cloud${view.path ? html`<span class="muted"> · ${view.title}</span>` : null}</h2></div>
      <${SubNav} session=${session} current=${view} />
      <div key=${view.path}>${body}</div>
    </section>`;
}
