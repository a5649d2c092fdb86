# Scenarios for ctibridge issue 8 (call engine round 2): transfers by AMI and DTMF, attended
# REFER, parking, pickup, queue member ring-out, a ring group with an external member.
#
# Not a module of its own: the lab's scripts/scenarios.py executes this file in its own
# namespace (one line added by lab/install.sh, just before `def run`), so the helpers of
# scenarios.py (scenario, inbound, ring, answer, uri, agents_info, time, L) are in scope.
# Dialplan and parking: lab/conf/extensions_issue8.conf, features.conf, res_parking.conf (lab/install.sh).


def _caller_up(sc, number, did, ext='1001', ring_s=2, display=None):
    """An external caller dials `did`; `ext` rings and answers after `ring_s` seconds."""
    c, call = inbound(sc, number, did, display)
    p, inc = ring(sc, ext)
    time.sleep(ring_s)
    answer(sc, ext, p, inc)
    c.wait_state(call, 'CONFIRMED', 10)
    return c, call, p, inc


def _left(sc, p, inc, ext, what):
    p.wait_state(inc, 'DISCONNECTED', 15)
    sc.step(f'{ext} phone: call ended ({what}); the customer call goes on without {ext}', agent=ext)


# ---------------------------------------------------------------------------
# blind transfers by AMI
# ---------------------------------------------------------------------------
@scenario('26-blind-transfer-ami-redirect', 'Blind transfer by AMI Redirect of the caller channel: 1001 -> 1002',
          'Carrier call from +4930123456 to DID 4930555000; 1001 answers after ~2 s; after 2 s of talk an AMI client (an operator panel or a CRM) sends Redirect Channel=<the caller\'s PJSIP/carrier channel> Context=from-internal Exten=1002 Priority=1. The caller channel leaves the bridge, 1001 is hung up by Asterisk, the caller channel runs Dial(PJSIP/1002,20,tT); 1002 rings ~3 s and answers; the call goes on ~10 s; the caller hangs up.',
          {'context': 'from-carrier -> (Redirect) from-internal 1002', 'did': '4930555000', 'ami': 'Redirect'})
def s26(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555000')
    chan = rec.find_channel('PJSIP/carrier-')
    time.sleep(2)
    r = rec.action('Redirect', Channel=chan, Context='from-internal', Exten='1002', Priority='1', ActionID='redirect-1002')
    sc.step(f'AMI Redirect {chan} -> 1002@from-internal: {r.get("Response")} / {r.get("Message")}', channel=chan)
    _left(sc, p1, i1, '1001', 'BYE from Asterisk after the Redirect')
    p2, i2 = ring(sc, '1002')
    time.sleep(3)
    answer(sc, '1002', p2, i2)
    time.sleep(10)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1002'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555000',
                        'outcome': 'answered by 1001, blind-transferred to 1002 by an AMI Redirect of the caller channel, answered by 1002',
                        'transfer': {'kind': 'blind', 'by': '1001 (the party the redirected caller was bridged with)', 'to': '1002',
                                     'via': 'AMI Redirect (ActionID redirect-1002) of the caller channel'},
                        'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'transferred (leg ends at the Redirect, ~13 s before the call ends)'],
                                 'final': 'answered, then transferred away (blind) - her part ends when her channel hangs up'},
                        '1002': {'sequence': ['ringing (caller is the external +4930123456)', 'connected', 'hung-up'], 'final': 'hung-up'}}})


@scenario('27-blind-transfer-ami-blindtransfer', 'Blind transfer by the AMI BlindTransfer action: 1001 -> 1002',
          'Carrier call from 0309876543 to DID 4930555000; 1001 answers after ~2 s; after 2 s of talk an AMI client sends BlindTransfer Channel=<1001\'s PJSIP/1001 channel> Context=from-internal Exten=1002 (what ctibridge\'s own transfer command sends). 1001 is hung up, the caller is sent to 1002@from-internal; 1002 rings ~3 s and answers; the call goes on ~10 s; the caller hangs up.',
          {'context': 'from-carrier -> (BlindTransfer) from-internal 1002', 'did': '4930555000', 'ami': 'BlindTransfer'})
def s27(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '0309876543', '4930555000', display='030 9876543')
    chan = rec.find_channel('PJSIP/1001-')
    time.sleep(2)
    r = rec.action('BlindTransfer', Channel=chan, Context='from-internal', Exten='1002', ActionID='blindxfer-1002')
    sc.step(f'AMI BlindTransfer {chan} -> 1002@from-internal: {r.get("Response")} / {r.get("Message")}', channel=chan)
    _left(sc, p1, i1, '1001', 'BYE from Asterisk after the blind transfer')
    p2, i2 = ring(sc, '1002')
    time.sleep(3)
    answer(sc, '1002', p2, i2)
    time.sleep(10)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1002'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000',
                        'outcome': 'answered by 1001, blind-transferred to 1002 (AMI BlindTransfer), answered by 1002',
                        'transfer': {'kind': 'blind', 'by': '1001', 'to': '1002'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'transferred (leg ends at the transfer, ~13 s before the call ends)'],
                                 'final': 'answered, then transferred away (blind)'},
                        '1002': {'sequence': ['ringing (caller 0309876543, transferred by 1001)', 'connected', 'hung-up'], 'final': 'hung-up'}}})


# ---------------------------------------------------------------------------
# attended transfers: DTMF (features.conf atxfer *2), AMI Atxfer, phone REFER with Replaces
# ---------------------------------------------------------------------------
def _consult_dtmf(sc, p1, i1, target):
    p1.dtmf('*2', i1)
    sc.step('1001 presses *2 (features.conf atxfer, RFC 4733 DTMF); Asterisk plays pbx-transfer and collects the target')
    time.sleep(1.5)
    p1.dtmf(target, i1)
    sc.step(f'1001 keys {target}; the customer waits on hold (music) while {target} rings')


@scenario('28-attended-transfer-dtmf', 'Attended transfer by DTMF (*2): 1001 consults 1003, then hangs up to complete',
          'Carrier call from +4930123456 to DID 4930555000 (Dial option t lets 1001 transfer); 1001 answers after ~2 s; after 2 s 1001 keys *2 then 1003: Asterisk puts the caller on hold and calls Local/1003@from-internal, whose ;2 half rings 1003 showing 1001 as the caller; 1003 answers after ~3 s; 1001 and 1003 talk 3 s; 1001 hangs up, which completes the transfer (Local channel optimised away); the caller and 1003 talk ~10 s; the caller hangs up.',
          {'context': 'from-carrier; consultation Local/1003@from-internal', 'did': '4930555000', 'features': 'atxfer *2'})
def s28(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555000')
    time.sleep(2)
    _consult_dtmf(sc, p1, i1, '1003')
    p3, i3 = ring(sc, '1003')
    time.sleep(3)
    answer(sc, '1003', p3, i3)
    time.sleep(3)
    sc.step('1001 hangs up: the attended transfer completes (caller <-> 1003)')
    p1.hangup(i1)
    time.sleep(10)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555000',
                        'outcome': 'answered by 1001, attended-transferred to 1003 (DTMF *2), talked with 1003',
                        'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'consulting 1003 (customer on hold)', 'transferred (leg ends when she hangs up)'],
                                 'final': 'answered, then transferred away (attended)'},
                        '1003': {'sequence': ['ringing (consultation: the caller shown is 1001 Alice Agent, for customer +4930123456)',
                                              'connected with 1001', 'connected with the customer +4930123456 after the transfer', 'hung-up'],
                                 'final': 'answered (the customer, after the transfer)'}}})


@scenario('29-attended-transfer-dtmf-abandoned', 'Attended transfer by DTMF abandoned: 1003 rings, 1001 aborts (*1) and returns to the caller',
          'Carrier call from 0309876543 to DID 4930555000; 1001 answers after ~2 s; after 2 s 1001 keys *2 then 1003; 1003 rings for ~4 s and does not answer; 1001 keys *1 (features.conf atxferabort): the consultation is cancelled, 1003 stops ringing, 1001 is back with the caller; they talk 3 s; the caller hangs up.',
          {'context': 'from-carrier; consultation Local/1003@from-internal', 'did': '4930555000', 'features': 'atxfer *2, atxferabort *1'})
def s29(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '0309876543', '4930555000', display='030 9876543')
    time.sleep(2)
    _consult_dtmf(sc, p1, i1, '1003')
    p3, i3 = ring(sc, '1003')
    time.sleep(4)
    p1.dtmf('*1', i1)
    sc.step('1001 presses *1 (atxferabort): consultation abandoned')
    p3.wait_state(i3, 'DISCONNECTED', 10)
    sc.step('1003 stops ringing (CANCEL)', agent='1003')
    time.sleep(3)
    sc.step('caller hangs up (1001 was back with the caller)')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000', 'outcome': 'answered by 1001; no transfer (consultation of 1003 abandoned)',
                        'transfer': None, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'consulting 1003', 'connected (back with the caller)', 'hung-up'], 'final': 'answered'},
                        '1003': {'sequence': ['ringing (consultation from 1001)', 'stopped ringing (consultation abandoned)'],
                                 'final': 'a consultation that rang and was cancelled by 1001: not a missed customer call'}}})


@scenario('30-attended-transfer-ami-atxfer', 'Attended transfer by the AMI Atxfer action: 1001 consults 1003, then hangs up to complete',
          'Carrier call from +4930123456 to DID 4930555000; 1001 answers after ~2 s; after 2 s an AMI client sends Atxfer Channel=<1001\'s PJSIP/1001 channel> Exten=1003 Context=from-internal (Asterisk feeds the atxfer feature code to the channel); 1003 rings (consultation via Local/1003@from-internal), answers after ~3 s; 1001 and 1003 talk 3 s; 1001 hangs up, completing the transfer; the caller and 1003 talk ~10 s; the caller hangs up.',
          {'context': 'from-carrier; consultation Local/1003@from-internal', 'did': '4930555000', 'ami': 'Atxfer'})
def s30(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555000')
    chan = rec.find_channel('PJSIP/1001-')
    time.sleep(2)
    r = rec.action('Atxfer', Channel=chan, Exten='1003', Context='from-internal', ActionID='atxfer-1003')
    sc.step(f'AMI Atxfer {chan} -> 1003@from-internal: {r.get("Response")} / {r.get("Message")}', channel=chan)
    p3, i3 = ring(sc, '1003')
    time.sleep(3)
    answer(sc, '1003', p3, i3)
    time.sleep(3)
    sc.step('1001 hangs up: the attended transfer completes (caller <-> 1003)')
    p1.hangup(i1)
    time.sleep(10)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555000',
                        'outcome': 'answered by 1001, attended-transferred to 1003 (AMI Atxfer), talked with 1003',
                        'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'consulting 1003', 'transferred (leg ends when she hangs up)'],
                                 'final': 'answered, then transferred away (attended)'},
                        '1003': {'sequence': ['ringing (consultation from 1001 for customer +4930123456)', 'connected with 1001',
                                              'connected with the customer after the transfer', 'hung-up'], 'final': 'answered'}}})


@scenario('31-attended-transfer-refer', 'Attended transfer by the phone (REFER with Replaces): 1001 holds, calls 1003, transfers',
          'Carrier call from 0309876543 to DID 4930555000; 1001 answers after ~2 s; after 2 s 1001 puts the caller on hold (re-INVITE sendonly), dials 1003 from the phone (second call, an internal call); 1003 rings ~3 s, answers; 1001 and 1003 talk 3 s; 1001 sends REFER on the customer call with Refer-To 1003 + Replaces=<the consultation dialog>; Asterisk bridges the caller with 1003 (AttendedTransfer) and ends both of 1001\'s calls; the caller and 1003 talk ~10 s; the caller hangs up.',
          {'context': 'from-carrier; consultation from-internal 1003', 'did': '4930555000'})
def s31(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '0309876543', '4930555000', display='030 9876543')
    time.sleep(2)
    p1.hold(i1)
    sc.step('1001 puts the caller on hold (re-INVITE sendonly)')
    time.sleep(1)
    oc = p1.make_call(uri('1003'))
    sc.step('1001 dials 1003 on a second line (consultation)')
    p3, i3 = ring(sc, '1003')
    time.sleep(3)
    answer(sc, '1003', p3, i3)
    p1.wait_state(oc, 'CONFIRMED', 10)
    time.sleep(3)
    p1.attended_transfer(i1, oc)
    sc.step('1001 transfers: REFER on the customer call with Replaces = the consultation call')
    p1.wait_state(i1, 'DISCONNECTED', 15)
    p1.wait_state(oc, 'DISCONNECTED', 15)
    sc.step('both of 1001\'s calls ended; the caller is with 1003', agent='1001')
    time.sleep(10)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000',
                        'outcome': 'answered by 1001, attended-transferred (REFER/Replaces) to 1003, talked with 1003',
                        'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003'}, 'hangup_by': 'caller'},
                       {'direction': 'internal', 'from': '1001', 'to': '1003', 'outcome': 'consultation: answered, merged into the customer call by the transfer'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'on-hold', 'dialing 1003 (consultation)', 'transferred (both calls end)'],
                                 'final': 'answered, then transferred away (attended); no resume at the transfer'},
                        '1003': {'sequence': ['ringing (internal call from 1001)', 'connected with 1001', 'connected with the customer 0309876543 after the transfer', 'hung-up'],
                                 'final': 'answered (the customer, after the transfer)'}}})


# ---------------------------------------------------------------------------
# parking (res_parking, lot "default": 700 parks, 701-720 slots, parkingtime 12 s, comebacktoorigin)
# ---------------------------------------------------------------------------
@scenario('32-park-ami-retrieved', 'Park by the AMI Park action, retrieved from another phone (1002 dials the slot)',
          'Carrier call from +4930123456 to DID 4930555000; 1001 answers after ~2 s; after 2 s an AMI client sends Park Channel=<the caller\'s PJSIP/carrier channel> TimeoutChannel=<1001\'s channel>: the caller is parked in lot default (slot 701), 1001 is hung up; ~4 s later 1002 dials 701 (ParkedCall) and talks with the caller ~6 s; the caller hangs up.',
          {'context': 'from-carrier; parkedcalls (included in from-internal)', 'did': '4930555000', 'ami': 'Park', 'parking': 'default lot 700, slots 701-720, parkingtime 12 s'})
def s32(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555000')
    chan = rec.find_channel('PJSIP/carrier-')
    agent = rec.find_channel('PJSIP/1001-')
    time.sleep(2)
    r = rec.action('Park', Channel=chan, TimeoutChannel=agent, ActionID='park-1')
    sc.step(f'AMI Park {chan} (TimeoutChannel {agent}): {r.get("Response")} / {r.get("Message")}', channel=chan)
    slot = rec.wait_msg(lambda d: d.get('Event') == 'ParkedCall', 10, what='ParkedCall')['ParkingSpace']
    sc.step(f'caller parked in slot {slot}', slot=slot)
    _left(sc, p1, i1, '1001', 'hung up by Asterisk after the park')
    time.sleep(4)
    p2 = sc.phones['1002']
    oc = p2.make_call(uri(slot))
    sc.step(f'1002 dials {slot} to retrieve the parked caller')
    p2.wait_state(oc, 'CONFIRMED', 10)
    sc.step('1002 connected with the caller (UnParkedCall)', agent='1002')
    time.sleep(6)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    sc.extra['parking_space'] = slot
    return ({'agents': agents_info('1001', '1002'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555000', 'outcome': 'answered by 1001, parked (AMI Park), retrieved by 1002',
                        'park': {'by': '1001', 'slot': slot, 'retrievedBy': '1002'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'parked the caller (leg ends)'], 'final': 'answered, then parked'},
                        '1002': {'sequence': ['dials the slot', 'connected with the caller +4930123456 (pop for the caller)', 'hung-up'],
                                 'final': 'answered the parked customer call (not a separate internal call)'}}})


@scenario('33-park-refer-timeout', 'Parked by a blind transfer to 700 (phone REFER), times out, comes back to the parker 1001',
          'Carrier call from 0309876543 to DID 4930555000; 1001 answers after ~2 s; after 2 s 1001 blind-transfers (REFER) to 700, the parking extension: the caller is parked (slot 701), 1001\'s call ends; nobody retrieves it; after the 12 s parking time (ParkedCallTimeOut) Asterisk calls the parker back (comebacktoorigin): 1001 rings, answers after ~2 s and talks with the caller 3 s; the caller hangs up.',
          {'context': 'from-carrier; parkedcalls', 'did': '4930555000', 'parking': 'default lot 700, slots 701-720, parkingtime 12 s, comebacktoorigin yes'})
def s33(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '0309876543', '4930555000', display='030 9876543')
    time.sleep(2)
    p1.blind_transfer(uri('700'), i1)
    sc.step('1001 blind-transfers the caller to 700 (REFER): park')
    slot = rec.wait_msg(lambda d: d.get('Event') == 'ParkedCall', 10, what='ParkedCall')['ParkingSpace']
    sc.step(f'caller parked in slot {slot}', slot=slot)
    _left(sc, p1, i1, '1001', 'REFER accepted, the phone hangs up')
    p1b, i1b = ring(sc, '1001', 30)
    sc.step('parking time over: the parked call comes back to 1001 (ParkedCallTimeOut)', agent='1001')
    time.sleep(2)
    answer(sc, '1001', p1b, i1b)
    time.sleep(3)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    sc.extra['parking_space'] = slot
    return ({'agents': agents_info('1001'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000', 'outcome': 'answered by 1001, parked, timed out, answered again by 1001',
                        'park': {'by': '1001', 'slot': slot, 'timedOut': True, 'cameBackTo': '1001'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'parked', 'ringing (the parked call comes back)', 'connected', 'hung-up'],
                                 'final': 'answered (one call, parked and answered again)'}}})


@scenario('34-park-dtmf-caller-hangup', 'Parked by DTMF (#72), the caller hangs up while parked',
          'Carrier call from +4930123456 to DID 4930555020 (Dial(PJSIP/1001,20,tTkK): 1001 may park); 1001 answers after ~2 s; after 2 s 1001 keys #72 (features.conf parkcall): the caller is parked (slot 701) and 1001\'s call ends; after ~4 s in the parking lot the caller hangs up (ParkedCallGiveUp).',
          {'context': 'from-carrier 4930555020; parkedcalls', 'did': '4930555020', 'features': 'parkcall #72', 'parking': 'default lot'})
def s34(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555020')
    time.sleep(2)
    p1.dtmf('#72', i1)
    sc.step('1001 keys #72 (parkcall)')
    slot = rec.wait_msg(lambda d: d.get('Event') == 'ParkedCall', 10, what='ParkedCall')['ParkingSpace']
    sc.step(f'caller parked in slot {slot}', slot=slot)
    _left(sc, p1, i1, '1001', 'parked the caller')
    time.sleep(4)
    sc.step('caller hangs up while parked')
    c.hangup(call)
    sc.stop_recording(rec)
    sc.extra['parking_space'] = slot
    return ({'agents': agents_info('1001'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555020', 'outcome': 'answered by 1001, parked, abandoned while parked',
                        'park': {'by': '1001', 'slot': slot, 'abandonedWhileParked': True}, 'hangup_by': 'caller (while parked)'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'parked the caller (leg ends)'],
                                 'final': 'answered, then parked; NOT missed (the caller gave up in the parking lot)'}}})


# ---------------------------------------------------------------------------
# pickup
# ---------------------------------------------------------------------------
@scenario('35-pickup-group', 'Group pickup: 1001 rings, 1003 dials *8 and gets the caller',
          'Carrier call from 0309876543 to DID 4930555000; 1001 rings; after ~3 s 1003 (same pickup group 1) dials *8 (Pickup()); 1003 is connected with the caller and 1001 stops ringing; they talk 4 s; the caller hangs up.',
          {'context': 'from-carrier; from-internal *8 Pickup()', 'did': '4930555000'})
def s35(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '0309876543', '4930555000', '030 9876543')
    p1, i1 = ring(sc, '1001')
    time.sleep(3)
    p3 = sc.phones['1003']
    oc = p3.make_call(uri('*8'))
    sc.step('1003 dials *8 (group pickup)')
    p3.wait_state(oc, 'CONFIRMED', 10)
    sc.step('1003 connected with the caller', agent='1003')
    p1.wait_state(i1, 'DISCONNECTED', 10)
    sc.step('1001 stops ringing (picked up elsewhere)', agent='1001')
    time.sleep(4)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000', 'outcome': 'answered (picked up by 1003 with *8)', 'answered_by': '1003', 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere (picked up by 1003) - NOT missed'},
                        '1003': {'sequence': ['connected with the caller 0309876543 (pop for the caller; the *8 dial is not a call of its own)', 'hung-up'], 'final': 'picked up'}}})


@scenario('36-pickup-directed', 'Directed pickup: ring group 1001/1002/1003 rings, 1006 dials **1002',
          'Carrier call from +4930123456 to DID 4930555001 (ring group 1001, 1002, 1003); after ~3 s 1006 dials **1002 (PickupChan(PJSIP/1002)); 1006 is connected with the caller; all three phones stop ringing; they talk 4 s; 1006 hangs up.',
          {'context': 'from-carrier 4930555001; from-internal **100X PickupChan', 'did': '4930555001'})
def s36(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '+4930123456', '4930555001')
    incs = {e: ring(sc, e) for e in ('1001', '1002', '1003')}
    time.sleep(3)
    p6 = sc.phones['1006']
    oc = p6.make_call(uri('**1002'))
    sc.step('1006 dials **1002 (directed pickup)')
    p6.wait_state(oc, 'CONFIRMED', 10)
    sc.step('1006 connected with the caller', agent='1006')
    for e, (p, inc) in incs.items():
        p.wait_state(inc, 'DISCONNECTED', 10)
        sc.step(f'{e} stops ringing', agent=e)
    time.sleep(4)
    sc.step('1006 hangs up')
    p6.hangup(oc)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1002', '1003', '1006'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555001', 'outcome': 'answered (picked up by 1006 with **1002)', 'answered_by': '1006', 'hangup_by': 'agent 1006'}],
             'agents': {'1001': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere - NOT missed'},
                        '1002': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere - NOT missed'},
                        '1003': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere - NOT missed'},
                        '1006': {'sequence': ['connected with the caller +4930123456 (pop for the caller)', 'hung-up'], 'final': 'picked up'}}})


# ---------------------------------------------------------------------------
# queue member ring-out
# ---------------------------------------------------------------------------
@scenario('37-queue-sales-member-ringout', 'Queue sales: the first member rings out (12 s member timeout), the next one answers',
          'Carrier call from 0309876543 to DID 4930555006 -> Answer(), Queue(sales) (rrmemory, Local channel members, member timeout 12 s, retry 3 s). The first member rung (observed_ring_order) does not answer: after 12 s the queue stops ringing it (AgentRingNoAnswer, DialEnd NOANSWER) while the caller keeps waiting; after the retry pause the other member rings and answers after ~2 s; talk 4 s; the caller hangs up.',
          {'context': 'from-carrier', 'did': '4930555006', 'queue': 'sales (rrmemory, timeout 12, retry 3)'})
def s37(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '0309876543', '4930555006', '030 9876543')
    c.wait_state(call, 'CONFIRMED', 10)
    sc.step('PBX answers the caller and queues it in sales')
    order = []
    t_end = time.time() + 45
    answered = None
    while time.time() < t_end and answered is None:
        for ext in ('1004', '1005'):
            p = sc.phones[ext]
            try:
                inc = p.wait_incoming(0.2)
            except TimeoutError:
                continue
            sc.step(f'{ext} phone is ringing (from {inc.remote})', agent=ext)
            order.append(ext)
            if len(order) == 1:
                p.wait_state(inc, 'DISCONNECTED', 20)
                sc.step(f'{ext} stops ringing: member timeout, the caller keeps waiting', agent=ext)
            else:
                time.sleep(2)
                answer(sc, ext, p, inc)
                answered = (ext, p, inc)
            break
    if answered is None:
        raise RuntimeError('no second member answered')
    time.sleep(4)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    sc.extra['observed_ring_order'] = order
    first, second = order[0], answered[0]
    return ({'agents': agents_info('1004', '1005'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}], 'queue': 'sales'},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555006', 'queue': 'sales', 'outcome': 'answered', 'answered_by': second, 'hangup_by': 'caller'}],
             'agents': {first: {'sequence': ['ringing', 'ringing stopped: timeout (member ring-out, not a caller hang-up)'],
                                'final': f'rang out; the call was then answered by {second}: answered elsewhere, not missed'},
                        second: {'sequence': ['ringing', 'connected', 'hung-up'], 'final': 'hung-up'}}})


@scenario('38-queue-support-ringout-then-answered', 'Queue support (ringall): both members ring out, ring again, 1002 answers',
          'Carrier call from +4930123456 to DID 4930555002 -> Answer(), Queue(support) (ringall, member timeout 15 s, retry 3 s). 1001 and 1002 ring 15 s and are stopped by the queue (AgentRingNoAnswer for both) while the caller keeps waiting; after the 3 s retry both ring again; 1002 answers after ~2 s; 1001 stops ringing; talk 3 s; the caller hangs up.',
          {'context': 'from-carrier', 'did': '4930555002', 'queue': 'support (ringall, timeout 15, retry 3)'})
def s38(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '+4930123456', '4930555002')
    c.wait_state(call, 'CONFIRMED', 10)
    sc.step('PBX answers the caller and queues it in support')
    first = {e: ring(sc, e) for e in ('1001', '1002')}
    for e, (p, inc) in first.items():
        p.wait_state(inc, 'DISCONNECTED', 25)
        sc.step(f'{e} stops ringing: member timeout (the caller keeps waiting)', agent=e)
    again = {e: ring(sc, e, 15) for e in ('1001', '1002')}
    time.sleep(2)
    answer(sc, '1002', *again['1002'])
    again['1001'][0].wait_state(again['1001'][1], 'DISCONNECTED', 10)
    sc.step('1001 stops ringing (answered elsewhere)', agent='1001')
    time.sleep(3)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1002'), 'external': [{'number': '+4930123456', 'role': 'caller'}], 'queue': 'support'},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555002', 'queue': 'support', 'outcome': 'answered', 'answered_by': '1002', 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'ringing stopped: timeout', 'ringing', 'answered elsewhere'], 'final': 'answered elsewhere (by 1002) - NOT missed'},
                        '1002': {'sequence': ['ringing', 'ringing stopped: timeout', 'ringing', 'connected', 'hung-up'], 'final': 'hung-up'}}})


# ---------------------------------------------------------------------------
# ring group with an external member
# ---------------------------------------------------------------------------
@scenario('39-ringgroup-external-answered', 'Ring group 1001/1002 + an external number (Local channel), answered outside',
          'Carrier call from 0309876543 to DID 4930555021 -> Dial(PJSIP/1001&PJSIP/1002&Local/0301234567@ringgroup-external/n,20,tT); the Local channel\'s ;2 half dials PJSIP/0301234567@carrier (the far end). All three ring; the far end (the external number 0301234567, e.g. a mobile) answers after ~3 s; 1001 and 1002 stop ringing; talk 4 s; the caller hangs up.',
          {'context': 'from-carrier 4930555021; ringgroup-external', 'did': '4930555021'})
def s39(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '0309876543', '4930555021', '030 9876543')
    incs = {e: ring(sc, e) for e in ('1001', '1002')}
    far = sc.phones['farend']
    fi = far.wait_incoming(15)
    sc.step(f'the external member 0301234567 rings (far end, From {fi.remote})')
    time.sleep(3)
    far.answer(fi)
    far.wait_state(fi, 'CONFIRMED', 10)
    sc.step('the external number answers')
    for e, (p, inc) in incs.items():
        p.wait_state(inc, 'DISCONNECTED', 10)
        sc.step(f'{e} stops ringing (answered elsewhere)', agent=e)
    time.sleep(4)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1002'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'},
                                                                 {'number': '0301234567', 'role': 'ring group member (external, far end)'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555021', 'outcome': 'answered outside (by the external number 0301234567)',
                        'answered_by': {'external': '0301234567'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'answered elsewhere'], 'final': 'answered elsewhere (by the external number) - NOT missed'},
                        '1002': {'sequence': ['ringing', 'answered elsewhere'], 'final': 'answered elsewhere (by the external number) - NOT missed'}}})


# ---------------------------------------------------------------------------
# variants where the order differs
# ---------------------------------------------------------------------------
@scenario('40-attended-transfer-dtmf-complete-while-ringing', 'Attended transfer by DTMF completed while the target still rings: 1001 hangs up, 1003 answers later',
          'Carrier call from 0309876543 to DID 4930555000; 1001 answers after ~2 s; after 2 s 1001 keys *2 then 1003; 1003 rings; after ~3 s of ringing 1001 hangs up (before 1003 answered): Asterisk completes the transfer anyway (the caller now hears 1003 ringing); 1003 answers ~3 s later, showing the customer; the caller and 1003 talk ~6 s; the caller hangs up.',
          {'context': 'from-carrier; consultation Local/1003@from-internal', 'did': '4930555000', 'features': 'atxfer *2'})
def s40(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '0309876543', '4930555000', display='030 9876543')
    time.sleep(2)
    _consult_dtmf(sc, p1, i1, '1003')
    p3, i3 = ring(sc, '1003')
    time.sleep(3)
    sc.step('1001 hangs up while 1003 still rings: the transfer completes, the caller waits for 1003')
    p1.hangup(i1)
    p1.wait_state(i1, 'DISCONNECTED', 10)
    time.sleep(3)
    answer(sc, '1003', p3, i3)
    time.sleep(6)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '0309876543', 'display': '030 9876543', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '0309876543', 'did': '4930555000',
                        'outcome': 'answered by 1001, attended transfer to 1003 completed while 1003 rang, answered by 1003',
                        'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003'}, 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'consulting 1003 (ringing)', 'transferred (leg ends when she hangs up)'],
                                 'final': 'answered, then transferred away'},
                        '1003': {'sequence': ['ringing (consultation from 1001, then the customer after 1001 hung up)', 'connected with the customer 0309876543', 'hung-up'],
                                 'final': 'answered'}}})


@scenario('41-pickup-queue-call', 'Group pickup of a queue call: support rings 1001 and 1002, 1003 dials *8',
          'Carrier call from +4930123456 to DID 4930555002 -> Answer(), Queue(support) (ringall 1001, 1002); after ~3 s of ringing 1003 (pickup group 1, not a queue member) dials *8: Pickup() takes one of the ringing member channels (picked_channel in the .json), 1003 talks with the caller, the other member stops ringing; talk 4 s; the caller hangs up.',
          {'context': 'from-carrier; from-internal *8 Pickup()', 'did': '4930555002', 'queue': 'support'})
def s41(sc):
    rec = sc.start_recording()
    c, call = inbound(sc, '+4930123456', '4930555002')
    c.wait_state(call, 'CONFIRMED', 10)
    sc.step('PBX answers the caller and queues it in support')
    incs = {e: ring(sc, e) for e in ('1001', '1002')}
    time.sleep(3)
    p3 = sc.phones['1003']
    oc = p3.make_call(uri('*8'))
    sc.step('1003 dials *8 (group pickup)')
    p3.wait_state(oc, 'CONFIRMED', 10)
    picked = rec.wait_msg(lambda d: d.get('Event') == 'Pickup', 10, what='Pickup')['TargetChannel']
    sc.step(f'1003 connected with the caller (picked {picked})', agent='1003')
    for e, (p, inc) in incs.items():
        p.wait_state(inc, 'DISCONNECTED', 10)
        sc.step(f'{e} stops ringing', agent=e)
    time.sleep(4)
    sc.step('caller hangs up')
    c.hangup(call)
    sc.stop_recording(rec)
    sc.extra['picked_channel'] = picked
    return ({'agents': agents_info('1001', '1002', '1003'), 'external': [{'number': '+4930123456', 'role': 'caller'}], 'queue': 'support'},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555002', 'queue': 'support', 'outcome': 'answered (picked up by 1003 with *8)', 'answered_by': '1003', 'hangup_by': 'caller'}],
             'agents': {'1001': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere (picked up by 1003) - NOT missed'},
                        '1002': {'sequence': ['ringing', 'picked up elsewhere'], 'final': 'answered elsewhere (picked up by 1003) - NOT missed'},
                        '1003': {'sequence': ['connected with the caller +4930123456 (pop for the caller)', 'hung-up'], 'final': 'picked up'}}})


@scenario('43-attended-transfer-dtmf-target-declines', 'Attended transfer by DTMF, the consulted agent declines (486): 1001 is back with the caller',
          'Carrier call from +4930123456 to DID 4930555000; 1001 answers after ~2 s; after 2 s 1001 keys *2 then 1003; 1003 rings ~3 s and rejects with 486 Busy Here; Asterisk returns 1001 to the caller (no transfer); they talk 3 s; 1001 hangs up.',
          {'context': 'from-carrier; consultation Local/1003@from-internal', 'did': '4930555000', 'features': 'atxfer *2'})
def s43(sc):
    rec = sc.start_recording()
    c, call, p1, i1 = _caller_up(sc, '+4930123456', '4930555000')
    time.sleep(2)
    _consult_dtmf(sc, p1, i1, '1003')
    p3, i3 = ring(sc, '1003')
    time.sleep(3)
    p3.answer(i3, 486)
    sc.step('1003 declines the consultation (486 Busy Here)', agent='1003')
    time.sleep(4)
    sc.step('1001 is back with the caller; 1001 hangs up')
    p1.hangup(i1)
    sc.stop_recording(rec)
    return ({'agents': agents_info('1001', '1003'), 'external': [{'number': '+4930123456', 'role': 'caller'}]},
            {'calls': [{'direction': 'inbound', 'caller_id': '+4930123456', 'did': '4930555000', 'outcome': 'answered by 1001; no transfer (1003 declined the consultation)',
                        'transfer': None, 'hangup_by': 'agent 1001'}],
             'agents': {'1001': {'sequence': ['ringing', 'connected', 'consulting 1003', 'connected (back with the caller)', 'hung-up'], 'final': 'answered'},
                        '1003': {'sequence': ['ringing (consultation from 1001)', 'declined'], 'final': 'declined a consultation: not a missed customer call'}}})

# ---------------------------------------------------------------------------
# PBX restart: what a client that reconnects at once sees (listings before FullyBooted)
# ---------------------------------------------------------------------------
def _connect_after_restart(sc, suffix, label, limit_s=60):
    """Open the second recorded connection as soon as the restarted Asterisk accepts AMI logins."""
    import socket
    t_end = time.time() + limit_s
    while time.time() < t_end:
        try:
            socket.create_connection((L.AMI_HOST, L.AMI_PORT), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        try:
            return sc.start_recording(suffix, label=label)
        except Exception as ex:  # accepted but not ready to log in yet: try again
            sc.step(f'AMI login after the restart not possible yet: {ex!r}')
            time.sleep(0.1)
    raise TimeoutError('no AMI after the restart')


@scenario('42-pbx-restart-queue-listing', 'PBX restart: a queue pause before, listings right after the restart until they work',
          'No calls. On the first connection 1001 is paused in queue support (QueuePause, reason lunch) and QueueStatus shows the pause; then `core restart now` on the CLI: Asterisk sends Shutdown and closes the connection. A second connection (file -after-restart) logs in as soon as the restarted Asterisk accepts one and at once, then every ~0.2 s, sends QueueStatus and DeviceStateList until both succeed ("Invalid/unknown command" while app_queue and the device state listing are not loaded yet), and waits for FullyBooted; the final QueueStatus shows 1001 not paused (persistentmembers = no: the pause did not survive).',
          {'ami': 'QueuePause, QueueStatus, DeviceStateList; CLI core restart now'})
def s42(sc):
    rec = sc.start_recording()
    r = rec.action('QueuePause', Interface='PJSIP/1001', Queue='support', Paused='true', Reason='lunch', ActionID='pause-1001')
    sc.step(f'QueuePause PJSIP/1001 in support (lunch): {r.get("Response")} / {r.get("Message")}')
    time.sleep(0.5)
    rec.action('QueueStatus', complete_event='QueueStatusComplete', ActionID='before-QueueStatus', Queue='support')
    sc.step('QueueStatus before the restart (1001 paused)')
    time.sleep(0.5)
    sc.step('CLI: core restart now')
    try:
        L.ast_cli('core restart now', timeout=10)
    except Exception as ex:
        sc.step(f'CLI returned {ex!r}')
    t_end = time.time() + 30
    with rec.cv:
        while not rec.closed and time.time() < t_end:
            rec.cv.wait(0.2)
    sc.step('first connection closed by Asterisk' if rec.closed else 'WARNING: first connection still open')
    rec.close()
    rec2 = _connect_after_restart(sc, '-after-restart', 'after-restart')
    tries = {'QueueStatus': 0, 'DeviceStateList': 0}
    ok = set()
    t_end = time.time() + 60
    while len(ok) < 2 and time.time() < t_end:
        for act, done in (('QueueStatus', 'QueueStatusComplete'), ('DeviceStateList', 'DeviceStateListComplete')):
            if act in ok:
                continue
            tries[act] += 1
            aid = f'after-{act}-{tries[act]}'
            r = rec2.action(act, ActionID=aid)
            if r.get('Response') == 'Success':
                rec2.wait_msg(lambda d, aid=aid: d.get('ActionID') == aid and d.get('Event') == done, 10, what=done)
                ok.add(act)
                sc.step(f'{act} try {tries[act]}: Success (listing complete)')
            elif tries[act] <= 3 or tries[act] % 10 == 0:
                sc.step(f'{act} try {tries[act]}: {r.get("Response")} / {r.get("Message")}')
        if len(ok) < 2:
            time.sleep(0.2)
    try:
        rec2.wait_msg(lambda d: d.get('Event') == 'FullyBooted', 30, what='FullyBooted')
        sc.step('FullyBooted received on the new connection')
    except TimeoutError:
        sc.step('WARNING: no FullyBooted on the new connection')
    r = rec2.action('QueueStatus', complete_event='QueueStatusComplete', ActionID='final-QueueStatus', Queue='support')
    sc.step('final QueueStatus (after FullyBooted)')
    sc.extra['listing_tries'] = tries
    sc.stop_recording(rec2)
    return ({'agents': agents_info('1001', '1002'), 'external': []},
            {'calls': [],
             'agents': {'1001': {'before_restart': 'paused in support (lunch)', 'after_restart': 'not paused: Asterisk cleared the pause; the listing after the restart is the truth'}},
             'listings': 'QueueStatus / DeviceStateList sent right after the restart answer "Invalid/unknown command" (Response Error) until the modules are loaded; a client must retry them until they succeed (or wait for FullyBooted) and then replace its agent state with the listing'})
