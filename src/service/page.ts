/**
 * GET / of `skulens serve`: one self-contained page (no external scripts) to drop a shelf
 * photo, send it to /v1/recognize and see the boxes drawn on it, the facings per label
 * and the share of shelf. Boxes are drawn in the browser from the JSON answer.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>skulens</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 1.5rem; color: #222; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; cursor: pointer; }
  #drop.over { background: #eef6ff; border-color: #2b7de9; }
  #view { max-width: 100%; margin-top: 1rem; display: none; }
  table { border-collapse: collapse; margin-top: 1rem; }
  td, th { border-bottom: 1px solid #ddd; padding: .25rem .75rem; text-align: left; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  #status.error { color: #b00020; }
  label { margin-right: 1rem; }
</style>
</head>
<body>
<h1>skulens</h1>
<p>
  <label>Token <input id="token" type="password" autocomplete="off" placeholder="if the service has one"></label>
  <label>Store <input id="store" placeholder="optional"></label>
</p>
<div id="drop">Drop a shelf photo here, or click to choose one
  <input id="file" type="file" accept="image/*" hidden>
</div>
<p id="status"></p>
<canvas id="view"></canvas>
<div id="summary"></div>
<script>
const $ = (id) => document.getElementById(id);
const drop = $('drop'), file = $('file'), status = $('status');
drop.onclick = () => file.click();
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]); };
file.onchange = () => { if (file.files[0]) send(file.files[0]); };

function say(text, error) { status.textContent = text; status.className = error ? 'error' : ''; }

async function send(photo) {
  say('Recognizing ' + photo.name + '…');
  document.body.removeAttribute('data-done');
  const headers = { 'Content-Type': photo.type || 'application/octet-stream' };
  if ($('token').value) headers.Authorization = 'Bearer ' + $('token').value;
  const q = new URLSearchParams({ photo: photo.name });
  if ($('store').value) q.set('store', $('store').value);
  try {
    const res = await fetch('/v1/recognize?' + q, { method: 'POST', headers, body: photo });
    const body = await res.json();
    if (!res.ok) throw new Error((body.error && body.error.message ? body.error.message + ' [' + body.error.code + ']' : 'HTTP ' + res.status));
    if (res.status === 202) throw new Error('Still queued as job ' + body.id + ': see ' + body.location);
    window.lastResult = body; // for scripts and tests driving the page
    await show(photo, body);
    say(body.items.length + (body.items.length === 1 ? ' product, ' : ' products, ') + body.unknown + ' unknown, in ' + Math.round(body.timings.total) + ' ms (gallery ' + body.gallery + ')');
  } catch (err) {
    say(err.message, true);
  }
  document.body.setAttribute('data-done', '1');
}

async function show(photo, r) {
  const img = await createImageBitmap(photo);
  const c = $('view');
  c.width = r.width; c.height = r.height; c.style.display = 'block';
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0, r.width, r.height);
  const line = Math.max(2, Math.round(r.width / 600));
  g.lineWidth = line;
  g.font = 'bold ' + (6 * line) + 'px system-ui';
  for (const it of r.items) {
    g.strokeStyle = it.unknown ? '#ff4d4d' : colour(it.label);
    g.setLineDash(it.unknown ? [3 * line, 2 * line] : []);
    g.strokeRect(it.box.x, it.box.y, it.box.width, it.box.height);
  }
  const rows = Object.entries(r.shareOfShelf).sort((a, b) => b[1].facings - a[1].facings);
  const pct = (v) => (100 * v).toFixed(1) + ' %';
  const esc = (s) => s.replace(/[&<>"]/g, (ch) => '&#' + ch.charCodeAt(0) + ';');
  $('summary').innerHTML = '<table id="share"><thead><tr><th>label</th><th>facings</th><th>share of facings</th><th>share of shelf area</th></tr></thead><tbody>' +
    rows.map(([label, s]) => '<tr data-label="' + esc(label) + '"><td>' + esc(label) + '</td><td class="n">' + s.facings + '</td><td class="n">' + pct(s.share) + '</td><td class="n">' + pct(s.areaShare) + '</td></tr>').join('') +
    '</tbody></table>';
}

function colour(label) {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 'hsl(' + (h % 360) + ', 85%, 45%)';
}
</script>
</body>
</html>
`;
