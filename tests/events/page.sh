#!/usr/bin/env bash
# The live event page (GET /brokers/NAME): HTML, self-contained (nothing loaded from
# elsewhere, and a Content-Security-Policy that says so), other methods than GET and
# POST 405. In a headless browser (chromium, when the machine has it), the page follows
# the broker's events: each event newest first with its id in data-id, its attributes and
# extensions as text, JSON data pretty-printed, other data as text (markup in it stays
# text), the count and the connection's status.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
printf '[[broker]]\nname = "b"\n' >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

send b e1 t.json '{"n":1,"list":[1,2]}'
check "a JSON event in: 202" "$STATUS" 202
check "a text event in: 202" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/brokers/b" \
  -H 'ce-specversion: 1.0' -H 'ce-id: e2' -H 'ce-source: test' -H 'ce-type: t.text' \
  -H 'ce-myext: v1' -H 'content-type: text/plain' --data-binary 'hello <b>bold</b>')" 202

get /brokers/b
check "GET: 200" "$STATUS" 200
check_contains "HTML" "$HEADERS" "content-type: text/html; charset=utf-8"
check_contains "a policy that forbids loading anything else" "$HEADERS" \
  "content-security-policy: default-src 'none'"
check_contains "it follows the broker's events from the earliest" "$BODY" \
  'new EventSource(path + "/events?since=earliest")'
check "nothing loaded from elsewhere" \
  "$(grep -ciE '(src|href)=|@import|url\(|https?://' <<<"$BODY")" 0
get /brokers/b -X PUT -d x
check "PUT: 405" "$STATUS" 405
check_contains "Allow: GET, POST" "$HEADERS" "allow: GET, POST"
get /brokers/b -I
check "HEAD: 405" "$STATUS" 405

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  stop_weft
  skip "no chromium here (scripts/install-deps.sh installs it): the page is not run in a browser"
fi
# The page shows the two events sent before it opened; then a third is sent while it is
# open, and it must appear without a reload. The DOM is taken once it shows all three
# (chromium driven over the DevTools protocol: its --dump-dom does not wait for a page
# whose stream stays open).
shown='document.querySelectorAll("article[data-id]").length'
python3 "$SRC/tests/events/browser_dom.py" "$browser" "$URL/brokers/b" "$shown >= 3" \
  "$WORK/dom" 30 "$shown >= 2" "curl -s -o /dev/null $URL/brokers/b -H 'ce-specversion: 1.0' \
  -H 'ce-id: e3' -H 'ce-source: test' -H 'ce-type: t.live' -H 'content-type: application/json' \
  -d '{\"live\":true}'" || fail "the page did not show the event sent while it was open"
# dom_q EXPR: a Python expression over the events shown (a list of dicts: id, seq, text),
# newest first, and the page's count and status.
dom_q() {
  python3 - "$WORK/dom" "$1" <<'PY'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.events, self.cur, self.depth, self.spans, self.span = [], None, 0, {}, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self.cur = {"id": a.get("data-id"), "seq": a.get("data-seq"), "text": "", "tags": []}
            self.depth = 0
        elif self.cur is not None:
            self.cur["tags"].append(tag)
        if self.cur is not None:
            self.depth += 1
        if tag == "span" and a.get("id"):
            self.span = a["id"]
    def handle_endtag(self, tag):
        if self.cur is not None:
            self.depth -= 1
            if tag == "article" and self.depth == 0:
                self.events.append(self.cur)
                self.cur = None
        self.span = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur["text"] += data + "|"
        if self.span:
            self.spans[self.span] = self.spans.get(self.span, "") + data
p = P()
p.feed(open(sys.argv[1]).read())
events, count, status = p.events, p.spans.get("count"), p.spans.get("status")
print(eval(sys.argv[2]))
PY
}
check "the page shows the three events, newest first, with their ids" \
  "$(dom_q '[(e["id"], e["seq"]) for e in events]')" "[('e3', '3'), ('e2', '2'), ('e1', '1')]"
check_contains "the event sent while the page was open, with its data" \
  "$(dom_q 'events[0]["text"]')" "type|t.live|"
check "the count" "$(dom_q count)" 3
check "the connection's status" "$(dom_q status)" connected
check_contains "the attributes, as text" "$(dom_q 'events[2]["text"]')" \
  "specversion|1.0|type|t.json|source|test|id|e1|datacontenttype|application/json|"
check_contains "an extension, as text" "$(dom_q 'events[1]["text"]')" "myext|v1|"
check_contains "JSON data pretty-printed" "$(dom_q 'repr(events[2]["text"])')" \
  '{\n  "n": 1,\n  "list": [\n    1,\n    2\n  ]\n}'
check_contains "text data as text" "$(dom_q 'events[1]["text"]')" "hello <b>bold</b>|"
check "markup in an event stays text" "$(dom_q '"b" in events[1]["tags"]')" False
stop_weft
finish
