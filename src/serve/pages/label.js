// The labelling page. A label is held here for the undo window and only then sent: once the
// server has answered 200 it is in the run's ledger and may already be trained on, so there is
// no undo on the server. Everything shown is set with textContent.
import { api, setText, token } from './api.js';

const CHOICES = { 1: 'a', 2: 'b', t: 'tie', s: 'skip' };
const WORDS = { a: 'left is better', b: 'right is better', tie: 'tie', skip: 'skipped' };

let undoMs = 5000;
/** the query on screen; null while none is */
let current = null;
/** queries fetched and not yet shown again (an undone label puts the one after it here) */
const upcoming = [];
/** the label in its undo window: { query, choice, timer } */
let pending = null;
let waitTimer = null;

function message(text) {
  setText('message', text);
}

function render(q) {
  current = q;
  document.getElementById('query').hidden = q === null;
  if (q === null) return;
  setText('prompt', q.prompt);
  setText('left', q.a);
  setText('right', q.b);
}

async function refreshProgress() {
  try {
    const [status, me] = await Promise.all([api('/api/status'), api('/api/me')]);
    setText('progress', `gold labels ${status.gold_used} of ${status.gold_budget} · your labels ${me.labels}, skipped ${me.skips}`);
  } catch (e) {
    message(`progress: ${e.message}`);
  }
}

async function showNext() {
  clearTimeout(waitTimer);
  if (upcoming.length) return render(upcoming.shift());
  try {
    const q = await api('/api/next');
    if (q === null) {
      render(null);
      message('nothing to label right now; looking again every 3 seconds');
      waitTimer = setTimeout(showNext, 3000);
      return;
    }
    message('');
    render(q);
  } catch (e) {
    render(null);
    message(`cannot fetch the next pair: ${e.message}; retrying`);
    waitTimer = setTimeout(showNext, 3000);
  }
}

async function send(p, keepalive = false) {
  if (pending === p) {
    clearTimeout(p.timer);
    pending = null;
    document.getElementById('pending').hidden = true;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await api('/api/label', { method: 'POST', body: { id: p.query.id, choice: p.choice }, keepalive });
      return refreshProgress();
    } catch (e) {
      // 4xx will not change on a retry (409: already answered elsewhere, or from an old server)
      if ((e.status && e.status < 500) || attempt === 5) return message(`label not stored: ${e.message}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function choose(choice) {
  if (current === null) return;
  if (pending) send(pending);
  const p = { query: current, choice, timer: 0 };
  p.timer = setTimeout(() => send(p), undoMs);
  pending = p;
  setText('pending-text', `${WORDS[choice]}: sent in ${Math.round(undoMs / 1000)} s`);
  document.getElementById('pending').hidden = false;
  render(null);
  showNext();
}

function undo() {
  if (!pending) return;
  clearTimeout(pending.timer);
  if (current) upcoming.unshift(current);
  const q = pending.query;
  pending = null;
  document.getElementById('pending').hidden = true;
  clearTimeout(waitTimer);
  message('');
  render(q);
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (e.key === 'u' || e.key === 'Backspace') return undo();
  const choice = CHOICES[e.key];
  if (choice) choose(choice);
});
for (const [id, choice] of [['choose-a', 'a'], ['choose-b', 'b'], ['choose-tie', 'tie'], ['choose-skip', 'skip']]) {
  document.getElementById(id).addEventListener('click', () => choose(choice));
}
document.getElementById('undo').addEventListener('click', undo);
// a closed page sends the label it was holding rather than lose it
addEventListener('pagehide', () => pending && send(pending, true));

async function start() {
  if (!token()) return message('open this page with the link d2po serve printed for you (it ends in #token=...)');
  try {
    undoMs = (await api('/api/me')).undo_ms;
  } catch (e) {
    return message(`cannot sign in: ${e.message}`);
  }
  await refreshProgress();
  setInterval(refreshProgress, 5000);
  await showNext();
}

start();
