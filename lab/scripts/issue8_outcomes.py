# Expected outcomes of the issue 8 scenarios (lab/scripts/issue8_scenarios.py), in the vocabulary
# of annotate.py's M: scenario -> (calls, users). Executed at the end of the lab's
# scripts/annotate.py (one line added by lab/install.sh), so `M`, `json` and `annotate` are in scope.
#
# What a person watching the phones would report. Conventions, as in the existing entries:
# - calls: the stored calls, oldest first; `answeredBy` "A then B" = B is the final answerer;
#   a consultation that became a transfer is part of the customer call (merged), not a call.
# - users: the leg outcome of each user's part of the call (first word), then what else she saw.
#   "answered_by_me, then transferred": her leg ends when her channel leaves (transferred: true);
#   the call goes on without her.
# Parking slots are the first free slot of lot "default" (701) when the lab is otherwise idle.

M.update({
    '26-blind-transfer-ami-redirect': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001 then 1002',
          'transfer': {'kind': 'blind', 'by': '1001', 'to': '1002', 'originalCaller': '+4930123456',
                       'via': 'AMI Redirect of the caller channel (the other side of it, 1001, is the transferer)'}}],
        {'1001': 'answered_by_me, then transferred (her leg ends at the Redirect, ~13 s before the call)',
         '1002': 'answered_by_me (pop shows the original caller +4930123456, transferred by 1001)'}),
    '27-blind-transfer-ami-blindtransfer': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1001 then 1002',
          'transfer': {'kind': 'blind', 'by': '1001', 'to': '1002', 'originalCaller': '0309876543'}}],
        {'1001': 'answered_by_me, then transferred (her leg ends at the transfer, ~13 s before the call)',
         '1002': 'answered_by_me (pop shows the original caller 0309876543, transferred by 1001)'}),
    '28-attended-transfer-dtmf': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001 then 1003',
          'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003', 'originalCaller': '+4930123456',
                       'consultation': {'from': '1001', 'to': '1003', 'for': '+4930123456', 'answered': True}}}],
        {'1001': 'answered_by_me, then transferred (her leg ends when she hangs up to complete)',
         '1003': 'answered_by_me (rang as a consultation from 1001 for +4930123456; after the transfer her view shows the customer)'}),
    '29-attended-transfer-dtmf-abandoned': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1001', 'transfer': None}],
        {'1001': 'answered_by_me (consulted 1003, gave up with *1, back with the caller)',
         '1003': 'unanswered (a consultation from 1001 that 1001 cancelled while it rang; not a missed customer call)'}),
    '30-attended-transfer-ami-atxfer': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001 then 1003',
          'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003', 'originalCaller': '+4930123456',
                       'consultation': {'from': '1001', 'to': '1003', 'for': '+4930123456', 'answered': True}, 'via': 'AMI Atxfer'}}],
        {'1001': 'answered_by_me, then transferred (her leg ends when she hangs up to complete)',
         '1003': 'answered_by_me (rang as a consultation from 1001 for +4930123456; after the transfer her view shows the customer)'}),
    '31-attended-transfer-refer': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1001 then 1003',
          'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003', 'originalCaller': '0309876543',
                       'consultation': {'from': '1001', 'to': '1003', 'answered': True,
                                        'note': 'an internal call from the phone (second line), merged into the customer call by the REFER'}}}],
        {'1001': 'answered_by_me, then transferred (no resume at the transfer; both her calls end at the REFER)',
         '1003': 'answered_by_me (first the internal consultation from 1001, then the customer 0309876543)'}),
    '32-park-ami-retrieved': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001 then 1002',
          'park': {'by': '1001', 'slot': '701', 'via': 'AMI Park', 'retrievedBy': '1002'}}],
        {'1001': 'answered_by_me, then parked the caller (her leg ends at the park)',
         '1002': 'answered_by_me (retrieved from slot 701: pop for the caller +4930123456; the slot dial is not a call of its own)'}),
    '33-park-refer-timeout': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1001',
          'park': {'by': '1001', 'slot': '701', 'via': 'blind transfer (REFER) to the park extension 700', 'timedOut': True, 'cameBackTo': '1001'}}],
        {'1001': 'answered_by_me (parked it, the parked call came back after 12 s, she answered it again: one call)'}),
    '34-park-dtmf-caller-hangup': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001',
          'park': {'by': '1001', 'slot': '701', 'via': 'DTMF #72 (features parkcall)', 'abandonedWhileParked': True}}],
        {'1001': 'answered_by_me, then parked (NOT missed: the caller gave up while parked)'}),
    '35-pickup-group': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1003'}],
        {'1001': 'answered_elsewhere (picked up by 1003)',
         '1003': 'picked_up (with *8: pop for the caller 0309876543; the *8 dial is not a call of its own)'}),
    '36-pickup-directed': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1006'}],
        {'1001': 'answered_elsewhere (picked up by 1006)', '1002': 'answered_elsewhere (picked up by 1006 with **1002)',
         '1003': 'answered_elsewhere (picked up by 1006)',
         '1006': 'picked_up (with **1002: pop for the caller +4930123456; the **1002 dial is not a call of its own)'}),
    '37-queue-sales-member-ringout': (
        [{'direction': 'inbound', 'from': '0309876543', 'queue': 'sales', 'outcome': 'answered',
          'answeredBy': 'see observed_ring_order: the second member rung'}],
        {'1004': 'see observed_ring_order: first rung = answered_elsewhere after call.ringing_stopped(timeout); second = answered_by_me',
         '1005': 'see observed_ring_order: first rung = answered_elsewhere after call.ringing_stopped(timeout); second = answered_by_me'}),
    '38-queue-support-ringout-then-answered': (
        [{'direction': 'inbound', 'from': '+4930123456', 'queue': 'support', 'outcome': 'answered', 'answeredBy': '1002'}],
        {'1001': 'answered_elsewhere (by 1002; rang twice, the first round stopped with reason timeout)',
         '1002': 'answered_by_me (rang twice, the first round stopped with reason timeout)'}),
    '39-ringgroup-external-answered': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': {'external': '0301234567'}}],
        {'1001': 'answered_elsewhere (by the external number 0301234567)',
         '1002': 'answered_elsewhere (by the external number 0301234567)'}),
    '40-attended-transfer-dtmf-complete-while-ringing': (
        [{'direction': 'inbound', 'from': '0309876543', 'outcome': 'answered', 'answeredBy': '1001 then 1003',
          'transfer': {'kind': 'attended', 'by': '1001', 'to': '1003', 'originalCaller': '0309876543',
                       'consultation': {'from': '1001', 'to': '1003', 'for': '0309876543', 'answered': False,
                                        'note': '1001 hung up while 1003 rang: the transfer completed before the answer'}}}],
        {'1001': 'answered_by_me, then transferred (her leg ends when she hangs up, before 1003 answers)',
         '1003': 'answered_by_me (rang as a consultation from 1001; answered the customer 0309876543)'}),
    '41-pickup-queue-call': (
        [{'direction': 'inbound', 'from': '+4930123456', 'queue': 'support', 'outcome': 'answered', 'answeredBy': '1003'}],
        {'1001': 'answered_elsewhere (picked up by 1003)', '1002': 'answered_elsewhere (picked up by 1003)',
         '1003': 'picked_up (with *8, not a queue member: pop for the caller +4930123456)'}),
    '42-pbx-restart-queue-listing': (
        [],
        {'1001': 'not in a call; agent state: paused in support before the restart, NOT paused after it (the listing that finally succeeds is the truth)'}),
    '43-attended-transfer-dtmf-target-declines': (
        [{'direction': 'inbound', 'from': '+4930123456', 'outcome': 'answered', 'answeredBy': '1001', 'transfer': None}],
        {'1001': 'answered_by_me (consulted 1003, who declined; back with the caller)',
         '1003': 'declined (a consultation from 1001, rejected with 486; not a customer call she missed)'}),
})


_annotate_kit = annotate


def annotate(path):  # noqa: F811  (wraps the kit's annotate: facts only the recording knows)
    """Fill in what depends on the run: the ring order of 37 and the parking slot of 32-34."""
    doc = json.load(open(path))
    name = doc.get('scenario')
    order = doc.get('observed_ring_order') or []
    if name == '37-queue-sales-member-ringout' and len(order) >= 2:
        first, second = order[0], order[-1]
        M[name] = ([{'direction': 'inbound', 'from': '0309876543', 'queue': 'sales', 'outcome': 'answered', 'answeredBy': second}],
                   {first: f'answered_elsewhere (by {second}; it rang out first: call.ringing_stopped reason timeout, not caller_hangup)',
                    second: 'answered_by_me'})
    slot = doc.get('parking_space')
    if name in M and slot and M[name][0] and 'park' in M[name][0][0]:
        M[name][0][0]['park']['slot'] = slot
    return _annotate_kit(path)
