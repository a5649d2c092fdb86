import { describe, expect, it } from "vitest";
import { parseCsv } from "../../src/directory/csv.js";

describe("parseCsv", () => {
  it.each([
    ["plain fields, LF", "a,b\nc,d\n", [[1, ["a", "b"]], [2, ["c", "d"]]]],
    ["CRLF and no final line end", "a,b\r\nc,d", [[1, ["a", "b"]], [2, ["c", "d"]]]],
    ["empty fields", "a,,\n,b,", [[1, ["a", "", ""]], [2, ["", "b", ""]]]],
    ["quoted comma and doubled quote", 'x,"Acme, ""The"" GmbH"\n', [[1, ["x", 'Acme, "The" GmbH']]]],
    ["line break inside quotes keeps line numbers", 'a,"l1\nl2"\nb,c\n', [[1, ["a", "l1\nl2"]], [3, ["b", "c"]]]],
    ["blank lines skipped", "a\n\n\nb\n", [[1, ["a"]], [4, ["b"]]]],
    ["BOM dropped", "\ufeffname,x\n", [[1, ["name", "x"]]]],
    ["lone CR ends a line", "a\rb", [[1, ["a"]], [2, ["b"]]]],
    ["quoted empty field is a record", '""\n', [[1, [""]]]],
  ])("%s", (_name, input, expected) => {
    const r = parseCsv(input);
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => [x.line, x.fields])).toEqual(expected);
  });

  it("reports an unterminated quote at the line where the record started", () => {
    const r = parseCsv('a,b\nc,"open\nmore\n');
    expect(r.records.map((x) => x.fields)).toEqual([["a", "b"]]);
    expect(r.problems).toEqual([{ line: 2, message: "unterminated quoted field" }]);
  });
});
