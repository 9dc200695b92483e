// The dashboard: the run's summary, the label queue and the curves, polled every 2 seconds.
// Everything shown is set with textContent (prompts and responses come from a model).
import { api, setText, token } from './api.js';

const fmt = (x) => (typeof x === 'number' && Number.isFinite(x) ? (Number.isInteger(x) ? String(x) : x.toFixed(3)) : '-');

function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

function counts(d) {
  const s = d.status;
  const q = d.queue;
  const rows = [
    ['status', `${s.status}${s.reason ? ` (${s.reason})` : ''}`],
    ['method, task', `${s.method}, ${s.task}`],
    ['step', `${s.step} of ${s.steps}`],
    ['gold labels', `${s.gold_used} of ${s.gold_budget} (${s.gold_initial} initial, ${s.gold_online} online)`],
    ['silver labels', String(s.silver_labels)],
    ['queue', `${q.open} open requests, ${q.leased} being labelled`],
    ['human answers', `${q.answers}, ${q.skips} skipped, ${q.withdrawn} pairs withdrawn`],
    ['overlap', d.overlap === 1 ? 'one annotator per pair' : `${d.overlap} annotators per pair; on conflict: ${d.conflict === 'tie' ? 'a tie' : 'ask a third'}`],
    ['agreement', q.agreement.pairs ? `${fmt(q.agreement.rate)} (${q.agreement.agreed} of ${q.agreement.pairs} pairs)` : '-'],
    ...Object.entries(q.by_annotator).map(([name, c]) => [`annotator ${name}`, `${c.labels} labels, ${c.skips} skipped`]),
  ];
  const dl = document.getElementById('counts');
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
}

function curves(series) {
  const byStep = new Map();
  const keys = ['eval/reward', 'eval/disc_acc', 'round/disc_acc'];
  keys.forEach((k, i) => {
    for (const p of series[k] ?? []) {
      const row = byStep.get(p.step) ?? { step: p.step, gold: p.gold_used, values: [] };
      row.values[i] = p.value;
      byStep.set(p.step, row);
    }
  });
  const rows = [...byStep.values()].sort((a, b) => a.step - b.step).map((r) => {
    const tr = el('tr');
    tr.append(el('td', String(r.step)), el('td', String(r.gold)), ...keys.map((_, i) => el('td', fmt(r.values[i]))));
    return tr;
  });
  document.querySelector('#curves tbody').replaceChildren(...rows);
}

function recent(list) {
  const items = list.map((r) => {
    const div = el('div');
    div.className = 'recent';
    const who = r.annotators.length ? ` by ${r.annotators.join(', ')}` : '';
    div.append(
      el('p', `round ${r.round}: ${r.preference === 'tie' ? 'a tie' : `${r.preference} preferred`}${who}`),
      el('pre', r.prompt),
      el('p', 'a'),
      el('pre', r.a),
      el('p', 'b'),
      el('pre', r.b),
    );
    return div;
  });
  document.getElementById('recent').replaceChildren(...items);
}

async function poll() {
  try {
    const d = await api('/api/dashboard');
    setText('run', d.status.dir);
    counts(d);
    curves(d.series);
    recent(d.recent);
    setText('message', '');
  } catch (e) {
    setText('message', `cannot update: ${e.message}`);
  }
}

if (!token()) setText('message', 'open this page with the link d2po serve printed (add #token=... to it)');
else {
  poll();
  setInterval(poll, 2000);
}
