#!/usr/bin/env python3
"""Line-driven SIP phones for the live fault tests (test/live/faults.test.ts).

Uses the lab's pjsua helpers (LAB/scripts/ctilab.py). One command per stdin line, one answer
line per command on stdout: `ok <epoch seconds> [detail]` or `err <text>`. Phones stay up
between commands, so a test can kill the daemon or restart Asterisk in the middle of a call.

  agents 1001 1002          start these agent phones (registered)
  call KEY NUMBER DID       a new external caller KEY (+49…) dials DID through the carrier
  ring EXT                  wait until EXT rings (claims that incoming call)
  answer EXT                answer EXT's claimed call, wait until confirmed
  hangup KEY                KEY (caller or agent) hangs up its current call
  gone KEY                  wait until KEY's last call is disconnected
  unregister EXT / register EXT
  quit                      stop every phone
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get('CTIBRIDGE_LAB', '/work/lab'), 'scripts'))
import ctilab as L  # noqa: E402

LOGDIR = f'{L.LAB}/logs/phones/live-faults'
phones = {}
claimed = {}
last = {}


def uri(user):
    return f'sip:{user}@{L.PBX_URI_HOST}'


def run(cmd, args):
    if cmd == 'agents':
        for e in args:
            phones[e] = L.agent_phone(e, LOGDIR)
        for e in args:
            phones[e].wait_registered(15)
        return ''
    if cmd == 'call':
        key, number, did = args
        p = L.caller_phone(number, LOGDIR)
        phones[key] = p
        time.sleep(0.2)
        last[key] = p.make_call(uri(did))
        return ''
    if cmd == 'ring':
        p = phones[args[0]]
        c = p.wait_incoming(20)
        claimed[args[0]] = c
        last[args[0]] = c
        return c.remote or ''
    if cmd == 'answer':
        p, c = phones[args[0]], claimed[args[0]]
        p.answer(c)
        p.wait_state(c, 'CONFIRMED', 10)
        return ''
    if cmd == 'hangup':
        p, c = phones[args[0]], last.get(args[0])
        if c is not None and c.state == 'DISCONNECTED':
            return 'already disconnected'
        p.hangup(c)
        return ''
    if cmd == 'gone':
        p, c = phones[args[0]], last[args[0]]
        p.wait_state(c, 'DISCONNECTED', 60)
        return c.disconnect_reason or ''
    if cmd == 'unregister':
        p = phones[args[0]]
        p.unregister()
        p.wait_for(lambda: p.registered is False, 10, 'unregistration')
        return ''
    if cmd == 'register':
        p = phones[args[0]]
        p.register()
        p.wait_registered(10)
        return ''
    raise ValueError(f'unknown command {cmd}')


def main():
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == 'quit':
            break
        try:
            detail = run(words[0], words[1:])
            print(f'ok {time.time():.3f} {detail}'.rstrip(), flush=True)
        except Exception as e:  # the test reads the answer and fails with it
            print(f'err {type(e).__name__}: {e}'.replace('\n', ' '), flush=True)
    for p in phones.values():
        try:
            p.quit(5)
        except Exception:
            pass
    print('ok bye', flush=True)


if __name__ == '__main__':
    main()
