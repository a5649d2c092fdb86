// `npm run schema`: writes docs/protocol.schema.json from the compiled schema (src/publish/schemaJson.ts).
import { writeFileSync } from "node:fs";
import { protocolJsonSchemaText } from "../dist/src/publish/schemaJson.js";

writeFileSync(new URL("../docs/protocol.schema.json", import.meta.url), protocolJsonSchemaText());
