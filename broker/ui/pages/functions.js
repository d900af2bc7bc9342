/* functions.js: stream functions; an empty state while the API answers 501. */
import { empty, errorBox, get, h, table, fmtNum } from "../api.js";

export async function render(main) {
  main.append(h("h1", null, "Functions"));
  try {
    const r = await get("/functions");
    const fns = (r && r.functions) || [];
    main.append(fns.length
      ? table([{ label: "Name" }, { label: "State" }, { label: "Records in", num: true }, { label: "Records out", num: true }],
        fns.map((f) => [f.name, f.state || "", fmtNum(f.records_in), fmtNum(f.records_out)]))
      : empty("No stream functions", "Functions are Flink SQL INSERT INTO … SELECT statements run inside the broker."));
  } catch (e) {
    if (e.status === 501) {
      main.append(empty("Stream functions are not available yet",
        "This build of runnel does not run stream functions; the page fills in once they are part of the broker.",
        h("p.muted", null, "The REST API answered " + e.code + ": " + e.message)));
    } else {
      main.append(errorBox(e, "Functions"));
    }
  }
}
