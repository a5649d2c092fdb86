import { connect } from "@ctibridge/client";

// Your CRM page calls this once; getToken asks your back end for a short-lived JWT.
export function startScreenPop({ url, getToken, openRecord, searchByNumber, onStatus }) {
  const client = connect({ url, getToken, instance: "crm-main-tab" });

  client.on("pop", ({ call }) => {
    const caller = call.direction === "outbound" ? call.to : call.from;
    const contact = call.match?.status === "single" ? call.match.records[0] : null;
    if (contact?.url) openRecord(contact.url); // one known contact: open it
    else if (call.popUrl) openRecord(call.popUrl); // the pop URL the daemon rendered
    else searchByNumber(caller.e164 ?? caller.raw, call.ivr); // otherwise: search, with the IVR data
    client.claim(call.callId).catch(() => {}); // this tab handles it; the user's other tabs are told
  });
  client.on("missed", ({ callbackNumber }) => onStatus(`missed call from ${callbackNumber}`));
  client.on("connection", ({ status }) => onStatus(status));
  client.on("error", (err) => onStatus(`error: ${err.code}`));
  return client; // client.dial("+4930123456"), client.annotate(callId, { recordId }) …
}
