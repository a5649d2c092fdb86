/*
 * A stand-in for Salesforce's Lightning `opencti_min.js`, served by the browser test at the org's
 * script URL. It defines `sforce.opencti` with the methods the softphone uses, checks every
 * call's argument against the Open CTI Developer Guide (one object; the named keys and types;
 * callType one of CALL_TYPE; saveLog's value with entityApiName or Id), records it, and answers
 * the callback asynchronously with { success, returnValue, errors } as the guide describes.
 * `SETUP` (prepended by the test) holds the search results, the Apex answers and the record ids.
 * The real library refuses to start without the URL parameters Salesforce adds to the adapter
 * URL; so does this one.
 */
(() => {
  const setup = typeof SETUP === "object" && SETUP ? SETUP : {};
  const params = new URLSearchParams(location.search);
  if (!params.get("mode") || !params.get("sfdcIframeOrigin")) {
    throw new Error("Failed to initialize Open CTI. Ensure that it is loaded from the right frame with correct URL parameters");
  }

  const CALL_TYPE = Object.freeze({ INBOUND: "inbound", OUTBOUND: "outbound", INTERNAL: "internal" });
  const SCREENPOP_TYPE = Object.freeze({ SOBJECT: "sobject", URL: "url", OBJECTHOME: "objecthome", LIST: "list", SEARCH: "search", NEW_RECORD_MODAL: "newrecordmodal", FLOW: "flow" });
  const calls = [];
  const listeners = { clickToDial: null };
  let nextTaskId = 1;

  /** Plain data for the record: functions become "function". */
  const plain = (v) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "function" ? "function" : x)));

  const type = (v) => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);

  /** Keys each method takes (name → type), and which are required; from the guide's Lightning pages. */
  const SHAPES = {
    enableClickToDial: { keys: { callback: "function" }, required: [] },
    disableClickToDial: { keys: { callback: "function" }, required: [] },
    refreshView: { keys: { callback: "function" }, required: [] },
    onClickToDial: { keys: { listener: "function" }, required: ["listener"] },
    setSoftphonePanelVisibility: { keys: { visible: "boolean", callback: "function" }, required: ["visible"] },
    searchAndScreenPop: {
      keys: { searchParams: "string", queryParams: "string", params: "object", defaultFieldValues: "object", callType: "string", deferred: "boolean", callback: "function" },
      required: ["callType"],
    },
    saveLog: { keys: { value: "object", callback: "function" }, required: ["value"] },
    runApex: { keys: { apexClass: "string", methodName: "string", methodParams: "string", callback: "function" }, required: ["apexClass", "methodName"] },
  };

  function check(method, args) {
    if (arguments.length !== 2 || type(args) !== "object") return "expects one object argument";
    const shape = SHAPES[method];
    for (const [k, v] of Object.entries(args)) {
      if (!(k in shape.keys)) return `unknown argument ${k}`;
      if (type(v) !== shape.keys[k]) return `${k} must be a ${shape.keys[k]}`;
    }
    for (const k of shape.required) if (!(k in args)) return `${k} is required`;
    if (method === "searchAndScreenPop" && !Object.values(CALL_TYPE).includes(args.callType)) return "callType must be a sforce.opencti.CALL_TYPE value";
    if (method === "saveLog" && !args.value.entityApiName && !args.value.Id) return "value needs entityApiName (create) or Id (update)";
    return null;
  }

  function respond(args, response) {
    if (typeof args?.callback === "function") setTimeout(() => args.callback(response), 0);
  }

  function answer(method, args) {
    switch (method) {
      case "searchAndScreenPop": {
        const found = (setup.search ?? {})[args.searchParams] ?? {};
        return args.deferred ? { ...found, SCREEN_POP_DATA: { type: "search" } } : found;
      }
      case "saveLog":
        return { recordId: args.value.Id ?? `00TSTANDIN${String(nextTaskId++).padStart(5, "0")}` };
      case "runApex":
        return { runApex: (setup.apex ?? {})[`${args.apexClass}.${args.methodName}`] ?? "" };
      default:
        return null;
    }
  }

  function method(name) {
    return function (args) {
      const invalid = check.apply(null, [name, ...arguments]);
      calls.push(invalid ? { method: name, args: plain(args), invalid } : { method: name, args: plain(args) });
      if (invalid) return respond(args, { success: false, returnValue: null, errors: [invalid] });
      if (name === "onClickToDial") {
        listeners.clickToDial = args.listener;
        return;
      }
      respond(args, { success: true, returnValue: answer(name, args), errors: null });
    };
  }

  const opencti = { CALL_TYPE, SCREENPOP_TYPE };
  for (const name of Object.keys(SHAPES)) opencti[name] = method(name);
  window.sforce = { opencti };

  /** For the test: the recorded calls, and a user's click on a phone number in Salesforce. */
  window.__opencti = {
    calls,
    clickToDial(payload) {
      if (!listeners.clickToDial) throw new Error("no onClickToDial listener registered");
      calls.push({ fired: "onClickToDial", payload });
      listeners.clickToDial(payload);
    },
  };
})();
