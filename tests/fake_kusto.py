"""A small in-memory stand-in for an Azure Data Explorer engine, speaking its REST protocol.

It answers what azure-kusto-data sends (no real cluster runs here):
- `POST /v1/rest/mgmt`   body `{"db": ..., "csl": ...}`, v1 JSON `{"Tables": [...]}`;
- `POST /v2/rest/query`  a bare table name only, v2 frames (what a reader would see);
- `POST /v1/rest/ingest/{db}/{table}?streamFormat=..` streaming ingestion (CSV), untagged.

Management commands understood (the subset pipelines/adx.py sends, in the documented syntax):
`.create-merge table`, `.show table T extents [where tags has 'x' [and ...]]`,
`.drop extents <| .show ...`, `.ingest inline into table T [with (...)] <| data`,
`.replace extents in table T [with (...)] <| {.show ...}, {.show ...}`.
Anything else gets a 400 with a Kusto-style error body. Every request is recorded.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_V1_TYPES = {
    "string": "String",
    "datetime": "DateTime",
    "long": "Int64",
    "int": "Int32",
    "real": "Double",
    "bool": "Boolean",
    "guid": "Guid",
    "dynamic": "Object",
    "timespan": "TimeSpan",
    "decimal": "Decimal",
}


class KustoError(Exception):
    """A request the fake refuses, answered as HTTP 400 with a Kusto error body."""


@dataclass
class Extent:
    extent_id: str
    table: str
    tags: list[str]
    rows: list[list[Any]]
    created_on: datetime


@dataclass
class Table:
    name: str
    columns: list[tuple[str, str]]
    folder: str = ""
    extents: list[Extent] = field(default_factory=list)


@dataclass
class Request:
    path: str
    db: str | None
    csl: str | None
    body: bytes


class FakeKusto:
    """Start with `with FakeKusto(databases=["db"]) as kusto:`; `kusto.url` is the endpoint."""

    def __init__(
        self, databases: list[str], clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.clock = clock  # the cluster's time, stamped on new extents
        self.databases: dict[str, dict[str, Table]] = {db: {} for db in databases}
        self.requests: list[Request] = []
        self.fail_next: list[str] = []  # csl prefixes to answer once with a 500
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeKusto:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- what tests look at ---

    def mgmt_commands(self) -> list[str]:
        return [r.csl for r in self.requests if r.path == "/v1/rest/mgmt" and r.csl]

    def table(self, db: str, name: str) -> Table:
        return self.databases[db][name]

    def rows(self, db: str, name: str) -> list[dict[str, Any]]:
        table = self.table(db, name)
        names = [c for c, _ in table.columns]
        return [dict(zip(names, row, strict=True)) for e in table.extents for row in e.rows]

    # --- protocol ---

    def handle(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        if path == "/v1/rest/mgmt" or path == "/v2/rest/query":
            payload = json.loads(body or b"{}")
            db, csl = payload.get("db"), payload.get("csl", "")
            with self._lock:
                self.requests.append(Request(path, db, csl, body))
                failing = next((p for p in self.fail_next if csl.startswith(p)), None)
                if failing is not None:
                    self.fail_next.remove(failing)
                    return 500, _error("InternalServiceError", "injected failure")
                try:
                    tables = self._database(db)
                    if path == "/v2/rest/query":
                        return 200, _v2(*self._query(tables, csl))
                    return 200, _v1(*self._mgmt(db, tables, csl))
                except KustoError as err:
                    return 400, _error("BadRequest", str(err))
        match = re.fullmatch(r"/v1/rest/ingest/([^/]+)/([^/]+)", path)
        if match:
            db, name = unquote(match.group(1)), unquote(match.group(2))
            with self._lock:
                self.requests.append(Request(path + _query_string(query), db, None, body))
                try:
                    table = self._table(self._database(db), name)
                    fmt = (query.get("streamFormat") or ["csv"])[0].lower()
                    if fmt != "csv":
                        raise KustoError(f"fake supports streamFormat=csv only, got {fmt}")
                    # Streaming ingestion has no tags: the rows arrive untagged.
                    extent = self._add_extent(table, body.decode("utf-8"), [], None)
                    return 200, _v1(["ExtentId"], ["guid"], [[extent.extent_id]])
                except KustoError as err:
                    return 400, _error("BadRequest", str(err))
        return 404, _error("NotFound", f"no such endpoint {path}")

    def _database(self, db: str | None) -> dict[str, Table]:
        if db not in self.databases:
            raise KustoError(f"database '{db}' was not found")
        return self.databases[db]

    def _table(self, tables: dict[str, Table], name: str) -> Table:
        if name not in tables:
            raise KustoError(f"table '{name}' was not found")
        return tables[name]

    def _mgmt(self, db: str, tables: dict[str, Table], csl: str) -> tuple:
        text = csl.strip()
        if text.startswith(".create-merge table "):
            return self._create_merge(db, tables, text[len(".create-merge table ") :])
        if text.startswith(".show table "):
            return self._show_result(db, self._show_extents(tables, text))
        if text.startswith(".drop extents"):
            query = _after_pipe(text, ".drop extents")
            dropped = self._show_extents(tables, query)
            for extent in dropped:
                tables[extent.table].extents.remove(extent)
            rows = [[e.extent_id, e.table, _iso(e.created_on)] for e in dropped]
            return ["ExtentId", "TableName", "CreatedOn"], ["guid", "string", "datetime"], rows
        if text.startswith(".ingest inline into table "):
            return self._ingest_inline(tables, text[len(".ingest inline into table ") :])
        if text.startswith(".replace extents in table "):
            return self._replace(tables, text[len(".replace extents in table ") :])
        raise KustoError(f"fake Kusto does not understand: {text.splitlines()[0][:80]}")

    def _create_merge(self, db: str, tables: dict[str, Table], rest: str) -> tuple:
        name, rest = _name(rest)
        inner, rest = _parens(rest)
        props_text = ""
        if rest.strip():
            if not rest.strip().startswith("with"):
                raise KustoError(f"unexpected {rest.strip()[:40]!r}")
            props_text, rest = _parens(rest.strip()[4:])
            if rest.strip():
                raise KustoError(f"unexpected {rest.strip()[:40]!r}")
        columns = []
        for part in _split_top(inner):
            col, after = _name(part.strip())
            ctype = after.strip().removeprefix(":").strip()
            if ctype not in _V1_TYPES:
                raise KustoError(f"unknown type {ctype!r} for column {col}")
            columns.append((col, ctype))
        props = _props(props_text)
        table = tables.get(name)
        if table is None:
            table = tables[name] = Table(name, columns, folder=props.get("folder", ""))
        else:
            known = dict(table.columns)
            for col, ctype in columns:
                if col in known and known[col] != ctype:
                    raise KustoError(f"column {col} is {known[col]}, cannot merge as {ctype}")
                if col not in known:
                    table.columns.append((col, ctype))
                    for extent in table.extents:
                        for row in extent.rows:
                            row.append(None)
        schema = json.dumps(
            {
                "Name": name,
                "OrderedColumns": [
                    {"Name": c, "Type": "System." + _V1_TYPES[t], "CslType": t}
                    for c, t in table.columns
                ],
            }
        )
        return (
            ["TableName", "Schema", "DatabaseName", "Folder", "DocString"],
            ["string"] * 5,
            [[name, schema, db, table.folder, ""]],
        )

    def _show_extents(self, tables: dict[str, Table], text: str) -> list[Extent]:
        match = re.fullmatch(r"\.show table (.*)", text.strip(), re.S)
        if not match:
            raise KustoError(f"expected .show table T extents, got {text[:60]!r}")
        name, rest = _name(match.group(1))
        match = re.fullmatch(r"\s*extents(?:\s+where\s+(.*))?\s*", rest, re.S)
        if not match:
            raise KustoError(f"expected `extents [where tags has '...']`, got {rest[:60]!r}")
        wanted: list[str] = []
        for clause in re.split(r"\s+and\s+", match.group(1) or "") if match.group(1) else []:
            tag_match = re.fullmatch(r"tags\s+has\s+(.*)", clause.strip(), re.S)
            if not tag_match:
                raise KustoError(f"fake supports `tags has '...'` filters only, got {clause!r}")
            value, tail = _string(tag_match.group(1))
            if tail.strip():
                raise KustoError(f"unexpected {tail!r}")
            wanted.append(value)
        table = self._table(tables, name)
        # `has` on extent tags is an equality filter on whole tags (documented for .show extents).
        return [e for e in table.extents if all(tag in e.tags for tag in wanted)]

    def _show_result(self, db: str, extents: list[Extent]) -> tuple:
        names = ["ExtentId", "DatabaseName", "TableName", "MaxCreatedOn", "RowCount"]
        names += ["MinCreatedOn", "Tags"]
        types = ["guid", "string", "string", "datetime", "long", "datetime", "string"]
        rows = [
            [e.extent_id, db, e.table, _iso(e.created_on), len(e.rows), _iso(e.created_on)]
            + ["\r\n".join(e.tags)]
            for e in extents
        ]
        return names, types, rows

    def _ingest_inline(self, tables: dict[str, Table], rest: str) -> tuple:
        name, rest = _name(rest)
        head, sep, data = rest.partition("<|")
        if not sep:
            raise KustoError("expected `<|` before the inline data")
        head = head.strip()
        props: dict[str, Any] = {}
        if head:
            match = re.fullmatch(r"with\s*\((.*)\)", head, re.S)
            if not match:
                raise KustoError(f"unexpected {head[:60]!r}")
            props = _props(match.group(1))
        if props.get("format", "csv").lower() != "csv":
            raise KustoError("fake supports format='csv' only")
        tags = json.loads(props["tags"]) if "tags" in props else []
        mapping = json.loads(props["ingestionMapping"]) if "ingestionMapping" in props else None
        table = self._table(tables, name)
        extent = self._add_extent(table, data.removeprefix("\n"), tags, mapping)
        return ["ExtentId"], ["guid"], [[extent.extent_id]]

    def _add_extent(
        self, table: Table, data: str, tags: list[str], mapping: list[dict] | None
    ) -> Extent:
        ordinals = {c: i for i, (c, _) in enumerate(table.columns)}
        if mapping is not None:
            ordinals = {}
            for entry in mapping:
                column = entry.get("column") or entry.get("Column")
                if column not in dict(table.columns):
                    raise KustoError(f"mapping names unknown column {column}")
                ordinals[column] = int(entry["Properties"]["Ordinal"])
        rows = []
        for record in csv.reader(io.StringIO(data)):
            if not record:
                continue
            row = []
            for column, ctype in table.columns:
                index = ordinals.get(column)
                cell = record[index] if index is not None and index < len(record) else ""
                row.append(_parse(cell, ctype, column))
            rows.append(row)
        extent = Extent(str(uuid.uuid4()), table.name, list(tags), rows, self.clock())
        if rows:
            table.extents.append(extent)
        return extent

    def _replace(self, tables: dict[str, Table], rest: str) -> tuple:
        name, rest = _name(rest)
        head, sep, body = rest.partition("<|")
        if not sep:
            raise KustoError("expected `<|`")
        match = re.fullmatch(r"\s*with\s*\((.*)\)\s*", head, re.S)
        if not match:
            raise KustoError("extentCreatedOnFrom and extentCreatedOnTo are required")
        props = _props(match.group(1))
        if "extentCreatedOnFrom" not in props or "extentCreatedOnTo" not in props:
            raise KustoError("extentCreatedOnFrom and extentCreatedOnTo are required")
        start, end = props["extentCreatedOnFrom"], props["extentCreatedOnTo"]
        match = re.fullmatch(r"\s*\{(.*?)\}\s*,\s*\{(.*)\}\s*", body, re.S)
        if not match:
            raise KustoError("expected {ExtentsToDropQuery},{ExtentsToMoveQuery}")
        target = self._table(tables, name)

        def in_window(extent: Extent) -> bool:
            return start <= extent.created_on <= end

        to_drop = [e for e in self._show_extents(tables, match.group(1)) if in_window(e)]
        to_move = [e for e in self._show_extents(tables, match.group(2)) if in_window(e)]
        if any(e.table != target.name for e in to_drop):
            raise KustoError("extents to drop must belong to the destination table")
        for extent in to_move:
            source = tables[extent.table]
            if not set(source.columns) <= set(target.columns):
                raise KustoError(f"columns of {source.name} do not all exist in {target.name}")
        # One transaction: everything below happens under the server lock.
        result = []
        for extent in to_drop:
            target.extents.remove(extent)
            result.append([extent.extent_id, "", ""])
        for extent in to_move:
            tables[extent.table].extents.remove(extent)
            moved = Extent(
                str(uuid.uuid4()),
                target.name,
                extent.tags,
                _reorder(extent.rows, tables[extent.table].columns, target.columns),
                extent.created_on,
            )
            target.extents.append(moved)
            result.append([extent.extent_id, moved.extent_id, ""])
        return ["OriginalExtentId", "ResultExtentId", "Details"], ["string"] * 3, result

    def _query(self, tables: dict[str, Table], csl: str) -> tuple:
        name, rest = _name(csl.strip())
        if rest.strip():
            raise KustoError("fake queries support a bare table name only")
        table = self._table(tables, name)
        rows = [row for e in table.extents for row in e.rows]
        return [c for c, _ in table.columns], [t for _, t in table.columns], rows


# --- KQL bits -----------------------------------------------------------------------------


def _name(text: str) -> tuple[str, str]:
    """A leading identifier (bare, ['x'] or ["x"]) and the rest of the text."""
    text = text.lstrip()
    match = re.match(r"\[\s*(['\"])(.*?)\1\s*\]|([A-Za-z_][\w.]*)", text)
    if not match:
        raise KustoError(f"expected a name at {text[:40]!r}")
    return (match.group(2) if match.group(1) else match.group(3)), text[match.end() :]


def _string(text: str) -> tuple[str, str]:
    """A leading KQL string literal ('..' or "..", backslash escapes) and the rest."""
    text = text.lstrip()
    if not text or text[0] not in "'\"":
        raise KustoError(f"expected a string literal at {text[:40]!r}")
    quote, out, i = text[0], [], 1
    escapes = {"n": "\n", "r": "\r", "t": "\t"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(escapes.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if ch == quote:
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    raise KustoError("unterminated string literal")


def _props(text: str) -> dict[str, Any]:
    """`name=value, ...` where value is a string, datetime(...), bool or number."""
    props: dict[str, Any] = {}
    rest = text.strip()
    while rest:
        match = re.match(r"(\w+)\s*=\s*", rest)
        if not match:
            raise KustoError(f"expected name=value at {rest[:40]!r}")
        key, rest = match.group(1), rest[match.end() :]
        if rest[:1] in "'\"":
            value, rest = _string(rest)
        else:
            match = re.match(r"datetime\(([^)]*)\)|([^,\s]+)", rest)
            if not match:
                raise KustoError(f"bad value for {key}")
            is_datetime = match.group(1) is not None
            value = _datetime(match.group(1)) if is_datetime else match.group(2)
            rest = rest[match.end() :]
        props[key] = value
        rest = rest.strip().removeprefix(",").strip()
    return props


def _parens(text: str) -> tuple[str, str]:
    """The inside of a leading (...) group (quotes respected) and the rest."""
    text = text.lstrip()
    if not text.startswith("("):
        raise KustoError(f"expected ( at {text[:40]!r}")
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quote:
            escaped = ch == "\\"
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[1:i], text[i + 1 :]
    raise KustoError("unbalanced parentheses")


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _after_pipe(text: str, prefix: str) -> str:
    rest = text[len(prefix) :].strip()
    if not rest.startswith("<|"):
        raise KustoError(f"expected `{prefix} <| query`")
    return rest[2:].strip()


def _datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse(cell: str, ctype: str, column: str) -> Any:
    """A CSV cell as Kusto stores it: empty is null, except for strings (empty string)."""
    if ctype == "string":
        return cell
    if cell == "":
        return None
    try:
        if ctype in ("long", "int"):
            return int(cell)
        if ctype == "real":
            return float(cell)
        if ctype == "bool":
            if cell.lower() not in ("true", "false"):
                raise ValueError(cell)
            return cell.lower() == "true"
        if ctype == "datetime":
            return _iso(_datetime(cell))
    except ValueError:
        raise KustoError(f"column {column}: cannot parse {cell!r} as {ctype}") from None
    return cell


def _reorder(rows: list[list], source: list[tuple], target: list[tuple]) -> list[list]:
    index = {c: i for i, (c, _) in enumerate(source)}
    return [[row[index[c]] if c in index else None for c, _ in target] for row in rows]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


# --- wire formats -------------------------------------------------------------------------


def _v1(names: list[str], types: list[str], rows: list[list]) -> dict:
    columns = [
        {"ColumnName": n, "DataType": _V1_TYPES.get(t, "String"), "ColumnType": t}
        for n, t in zip(names, types, strict=True)
    ]
    return {"Tables": [{"TableName": "Table_0", "Columns": columns, "Rows": rows}]}


def _v2(names: list[str], types: list[str], rows: list[list]) -> list[dict]:
    columns = [{"ColumnName": n, "ColumnType": t} for n, t in zip(names, types, strict=True)]
    return [
        {"FrameType": "DataSetHeader", "IsProgressive": False, "Version": "v2.0"},
        {
            "FrameType": "DataTable",
            "TableId": 0,
            "TableKind": "PrimaryResult",
            "TableName": "PrimaryResult",
            "Columns": columns,
            "Rows": rows,
        },
        {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
    ]


def _error(code: str, message: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "@type": "Kusto.Data.Exceptions.KustoBadRequestException",
            "@message": message,
            "@permanent": True,
        }
    }


def _query_string(query: dict[str, list[str]]) -> str:
    if not query:
        return ""
    return "?" + "&".join(f"{k}={v}" for k, values in query.items() for v in values)


def _handler(kusto: FakeKusto) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            parsed = urlparse(self.path)
            body = self._read_body()
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            status, payload = kusto.handle(parsed.path, parse_qs(parsed.query), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []  # a streamed upload (the ingest client sends file-like bodies chunked)
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler
