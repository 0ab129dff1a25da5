"""web/ot.js in the browser: the properties OT depends on, on random operations with astral text."""

from __future__ import annotations

import pytest

CHECKS = """
const done = arguments[arguments.length - 1];
import('/static/ot.js').then((ot) => {
  const { TextOperation, OTClient, RevisionOrder, scalarCount, utf16Index, transformPosition } = ot;
  const alphabet = ['a', 'b', 'Z', ' ', '\\n', 'é', '中', '😀', '👩‍💻', '\\r'];
  let seed = 4242;
  const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const text = (n) => { let s = ''; for (let i = 0; i < n; i++) s += alphabet[rnd(alphabet.length)]; return s; };
  const randomOp = (doc) => {
    const op = new TextOperation();
    let left = scalarCount(doc);
    for (let guard = 0; left > 0 && guard < 1000; guard++) {
      const k = 1 + rnd(Math.min(left, 4));
      const kind = rnd(3);
      if (kind === 0) { op.retain(k); left -= k; }
      else if (kind === 1) { op.delete(k); left -= k; }
      else op.insert(text(1 + rnd(3)));
    }
    if (left > 0) op.retain(left);
    if (rnd(2)) op.insert(text(1 + rnd(2)));
    return op;
  };
  const failures = [];
  const fail = (what, ...data) => { if (failures.length < 10) failures.push([what, ...data.map((d) => JSON.stringify(d))]); };
  let checks = 0;
  for (let i = 0; i < 400; i++) {
    const doc = text(rnd(25));
    if (scalarCount(doc) !== Array.from(doc).length) fail('scalarCount', doc);
    const n = scalarCount(doc);
    for (let k = 0; k <= n; k++) {
      if (utf16Index(doc, k) !== Array.from(doc).slice(0, k).join('').length) fail('utf16Index', doc, k);
    }
    const a = randomOp(doc), b = randomOp(doc);
    if (a.baseLength !== n || scalarCount(a.apply(doc)) !== a.targetLength) fail('lengths', doc, a.ops);
    const [a2, b2] = TextOperation.transform(a, b);
    if (b2.apply(a.apply(doc)) !== a2.apply(b.apply(doc))) fail('transform', doc, a.ops, b.ops);
    const c = randomOp(a.apply(doc));
    if (a.compose(c).apply(doc) !== c.apply(a.apply(doc))) fail('compose', doc, a.ops, c.ops);
    if (a.invert(doc).apply(a.apply(doc)) !== doc) fail('invert', doc, a.ops);
    if (!TextOperation.fromJSON(JSON.parse(JSON.stringify(a)), n).equals(a)) fail('json', a.ops);
    const p = rnd(n + 1);
    const moved = transformPosition(p, a);
    if (moved < 0 || moved > a.targetLength) fail('position', doc, a.ops, p, moved);
    checks++;
  }
  // Ties: at the same position the first operation's insert goes first (the server's rule for
  // the operation it commits over earlier ones).
  const [x] = TextOperation.transform(new TextOperation().insert('X').retain(1), new TextOperation().insert('Y').retain(1));
  if (x.apply('Yz') !== 'XYz') fail('tie', x.ops);
  // The client protocol: two clients and a server in memory converge.
  const server = { text: 'hello 😀 world', log: [] };
  const clients = [];
  const inbox = [[], []];
  for (let id = 0; id < 2; id++) {
    const local = { text: server.text };
    const client = new OTClient({ revision: 0, text: server.text,
      send: (revision, op) => inbox[id].push({ revision, op }),
      apply: (op) => { local.text = op.apply(local.text); } });
    client.online = true;
    clients.push({ client, local });
  }
  const commit = (id) => {
    const { revision, op } = inbox[id].shift();
    let mine = op;
    for (const entry of server.log.slice(revision)) mine = TextOperation.transform(mine, entry.op)[0];
    server.text = mine.apply(server.text);
    server.log.push({ op: mine, author: id });
    const rev = server.log.length;
    clients[id].client.serverAck(rev);
    const other = clients[1 - id].client;
    other.applyServer(rev, TextOperation.fromJSON(mine.toJSON()), id);
  };
  for (let step = 0; step < 300; step++) {
    const id = rnd(2);
    if (rnd(3) === 0 && inbox[id].length) commit(id);
    else {
      const c = clients[id];
      const op = randomOp(c.local.text);
      c.local.text = op.apply(c.local.text);
      c.client.applyClient(op);
    }
  }
  for (let guard = 0; guard < 1000 && (inbox[0].length || inbox[1].length); guard++) commit(inbox[0].length ? 0 : 1);
  if (clients[0].local.text !== server.text || clients[1].local.text !== server.text) fail('protocol', server.text, clients[0].local.text, clients[1].local.text);
  // Reconnect catch-up. Our op went out at revision 5 and the connection died; we typed more offline.
  for (const committed of [true, false]) {
    const sent = [];
    let local = 'abc';
    const c = new OTClient({ revision: 5, text: 'abc', send: (r, op) => sent.push([r, op.toJSON()]),
                             apply: (op) => { local = op.apply(local); } });
    c.online = true;
    const mine = new TextOperation().retain(3).insert('!');
    local = mine.apply(local); c.applyClient(mine);
    c.disconnected();
    const more = new TextOperation().insert('>').retain(4);
    local = more.apply(local); c.applyClient(more);
    // Meanwhile someone inserted 'X' at 0 (revision 6); and, if it arrived, ours became revision 7.
    const theirs = new TextOperation().insert('X').retain(3);
    const missed = [{ revision: 6, ops: theirs.toJSON(), user_id: 'u_other' }];
    if (committed) missed.push({ revision: 7, ops: TextOperation.transform(mine, theirs)[0].toJSON(), user_id: 'u_me' });
    const ok = c.catchUp(missed, 'u_me');
    c.connected();
    const want = committed
      ? { revision: 7, server: 'Xabc!', sent: [[5, [3, '!']], [7, ['>', 5]]] }
      : { revision: 6, server: 'Xabc', sent: [[5, [3, '!']], [6, [4, '!']]] };
    const got = { revision: c.revision, server: c.serverText, sent };
    if (!ok || local !== '>Xabc!' || JSON.stringify(got) !== JSON.stringify(want)) fail('catch-up', committed, local, got, want);
  }
  // Revision order: an op committed after our ack's revision can arrive first; it waits.
  {
    let revision = 10;
    const seen = [];
    const gaps = [];
    const order = new RevisionOrder({ current: () => revision, wait: 50,
      process: (kind, r) => { seen.push(`${kind} ${r}`); revision = r; }, gap: (why) => gaps.push(why) });
    order.push('op', 13, null);   // early
    order.push('op', 12, null);   // early
    order.push('ack', 11, null);  // the missing one: then 12 and 13 follow
    order.push('op', 12, null);   // a duplicate: ignored
    order.push('op', 14, null);
    if (seen.join(',') !== 'ack 11,op 12,op 13,op 14' || gaps.length) fail('order', seen, gaps);
    order.push('op', 16, null);   // 15 never comes: a gap after the wait
    setTimeout(() => {
      if (gaps.length !== 1 || seen.length !== 4) fail('order gap', seen, gaps);
      done({ checks, failures });
    }, 120);
  }
}).catch((e) => done({ checks: 0, failures: [['error', String(e && e.stack || e)]] }));
"""


def test_ot_properties_hold_in_the_browser(stack, browsers):
    d = browsers.new("ot")
    d.set_script_timeout(60)
    d.get(stack.a.url + "/")
    result = d.execute_async_script(CHECKS)
    assert result["failures"] == [], result["failures"]
    assert result["checks"] == 400
