"""web/editor.js in the browser: a shared editor keeps what was typed across a rejoin.

The private notes have no operation log to catch up from (the welcome gives their text and
revision only), so a rejoin with notes typed meanwhile rebases them onto the welcome's text. Each
scenario drives a real CodeMirror through the SharedEditor with real edits, plays the server's side
(the messages it would send), and checks the text in the editor and what the editor sends."""

from __future__ import annotations

SCENARIOS = """
const done = arguments[arguments.length - 1];
Promise.all([import('/static/editor.js'), import('/static/ot.js')]).then(([{ SharedEditor }, { TextOperation }]) => {
  const failures = [];
  const check = (what, got, want) => { if (JSON.stringify(got) !== JSON.stringify(want)) failures.push([what, got, want]); };
  const make = () => {
    const box = document.createElement('div');
    document.body.append(box);
    const sent = [];
    const resyncs = [];
    const editor = new SharedEditor(box, { opType: 'notes-op', what: 'notes',
      send: (type, data) => { sent.push({ type, ...data }); return true; },
      resync: (reason, options) => resyncs.push([reason, options || {}]) });
    editor.sync('hello world', 3, { rejoin: false });
    editor.setEditable(true);
    editor.connected();
    return { editor, sent, resyncs, cm: editor.cm };
  };
  const type = (cm, at, text) => cm.replaceRange(text, cm.posFromIndex(at), cm.posFromIndex(at), '+input');
  const applySent = (text, ops) => TextOperation.fromJSON(ops, Array.from(text).length).apply(text);
  const later = (ms) => new Promise((r) => setTimeout(r, ms));

  (async () => {
    // 1. Typed while offline, nothing changed on the server: kept and sent after the rejoin.
    {
      const { editor, sent, cm } = make();
      editor.disconnected();
      type(cm, 11, '!');
      check('offline: nothing sent', sent.length, 0);
      editor.sync('hello world', 3, { rejoin: true, merge: true });
      editor.connected();
      await later(50);
      check('kept', cm.getValue(), 'hello world!');
      check('sent once', sent.length, 1);
      check('sent at the revision', sent[0] && sent[0].revision, 3);
      check('sent applies', sent[0] && applySent('hello world', sent[0].ops), 'hello world!');
    }
    // 2. Typed while offline, others changed the text meanwhile: rebased onto it.
    {
      const { editor, sent, cm } = make();
      editor.disconnected();
      type(cm, 0, '> ');
      editor.sync('hello brave world', 5, { rejoin: true, merge: true });
      editor.connected();
      await later(50);
      check('merged', cm.getValue(), '> hello brave world');
      check('revision', editor.client.revision, 5);
      check('rebased op sent', sent.length === 1 && sent[0].revision === 5 && applySent('hello brave world', sent[0].ops), '> hello brave world');
    }
    // 3. The edit in flight was committed before the drop (its ack lost): not sent twice.
    {
      const { editor, sent, cm } = make();
      type(cm, 5, ',');
      await later(50);
      check('in flight', sent.length, 1);
      editor.disconnected();
      editor.sync('hello, world', 4, { rejoin: true, merge: true });
      editor.connected();
      await later(50);
      check('taken as the ack', [cm.getValue(), editor.client.revision, editor.synchronized, sent.length], ['hello, world', 4, true, 1]);
    }
    // 4. In flight and not committed, others edited meanwhile: sent again, rebased.
    {
      const { editor, sent, cm } = make();
      type(cm, 11, '?');
      await later(50);
      editor.disconnected();
      editor.sync('HELLO world', 4, { rejoin: true, merge: true });
      editor.connected();
      await later(50);
      check('in flight rebased', cm.getValue(), 'HELLO world?');
      check('resent', sent.length === 2 && sent[1].revision === 4 && applySent('HELLO world', sent[1].ops), 'HELLO world?');
    }
    // 5. An edit the server refused for good: the next welcome's text replaces ours.
    {
      const { editor, resyncs, cm } = make();
      type(cm, 0, 'x');
      await later(50);
      editor.refused({ code: 'too_large', detail: 'the notes would be too long' });
      check('resync asked, dropping', resyncs.length === 1 && resyncs[0][1].drop, true);
      editor.dropPending = true; // what the page does with {drop: true}
      editor.disconnected();
      editor.sync('hello world', 3, { rejoin: true, merge: true });
      check('replaced', [cm.getValue(), editor.synchronized], ['hello world', true]);
      document.getElementById('notice').hidden = true;
    }
    // 6. Others' operations and our acks, in revision order; a gap asks for a resync.
    {
      const { editor, sent, resyncs, cm } = make();
      type(cm, 0, 'A');
      await later(50);
      editor.receiveOp({ revision: 4, ops: [11, ' B'], user_id: 'u2' });
      editor.receiveAck({ revision: 5 });
      check('ordered', [cm.getValue(), editor.client.revision, editor.synchronized], ['Ahello world B', 5, true]);
      editor.receiveOp({ revision: 7, ops: ['C', 14] });
      await later(2300);
      check('gap', resyncs.length, 1);
    }
    // 7. Undo reverts only our own edit, not the other person's.
    {
      const { editor, cm } = make();
      type(cm, 11, ' mine');
      await later(50);
      editor.receiveAck({ revision: 4 });
      editor.receiveOp({ revision: 5, ops: ['theirs ', 16] });
      editor.undoRedo(false);
      check('undo', cm.getValue(), 'theirs hello world');
    }
    return failures;
  })().then(done, (e) => done([['error', String(e && e.stack || e)]]));
}).catch((e) => done([['error', String(e && e.stack || e)]]));
"""


def test_shared_editor_keeps_edits_across_rejoins(stack, browsers):
    d = browsers.new("editor")
    d.set_script_timeout(60)
    d.get(stack.a.url + "/")
    failures = d.execute_async_script(SCENARIOS)
    assert failures == [], failures
