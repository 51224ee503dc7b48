#!/usr/bin/env python3
"""A test BigBlueButton API server: answers getMeetings the way BBB does, and can be told to misbehave.

It verifies the checksum exactly as BBB (2.5 and later) does: the query string as received minus the
checksum parameter, hashed after the call name and before the shared secret, with the algorithm picked by
the checksum's length (40 sha1, 64 sha256, 96 sha384, 128 sha512), refused when that algorithm is not in
the allowed set (--algorithms, like BBB's supportedChecksumAlgorithms). A bad checksum gets BBB's answer:
HTTP 200, returncode FAILED, messageKey checksumError.

Run:   bbbserver.py --secret S [--algorithms sha1,sha256] [--port 0] [--tls-cert PEM --tls-key PEM]
It prints "bbbserver listening on 127.0.0.1:PORT" on stdout once it accepts connections.

Control (plain GET, answers JSON):
  /_control?participants=3,2        per-meeting participant counts (empty: no meetings)
           &breakouts=2,1           participant counts of breakout rooms (children of the first meeting)
           &mode=ok|failed|garbage|truncated|http500|redirect|redirect_loop|no_meetings_element|html|huge
           &delay_ms=N              answer getMeetings after N ms
           &sep=,                   thousands separator for counts >= 1000 ("", ",", ".", "nbsp")
           &failed_key=K            messageKey of mode=failed
  /_stats                           {"requests": n, "ok": n, "checksum_errors": n, "algorithms": {...}}
  /_reset                           zeroes the statistics
"""

import argparse
import hashlib
import html
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALGORITHMS_BY_LENGTH = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
ALL_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
MODES = ("ok", "failed", "garbage", "truncated", "http500", "redirect", "redirect_loop",
         "no_meetings_element", "html", "huge")
API_PREFIX = "/bigbluebutton/api/"
MOVED_PREFIX = "/moved/bigbluebutton/api/"


def checksum(algorithm, call, query, secret):
    """hex(hash(call + query + secret)), as the BBB API defines it."""
    return hashlib.new(algorithm, (call + query + secret).encode()).hexdigest()


def strip_checksum(query, value):
    """The query string minus the checksum parameter, the way BBB's ValidationService removes it."""
    for pattern in ("&checksum=" + value, "checksum=" + value + "&", "checksum=" + value):
        if pattern in query:
            return query.replace(pattern, "", 1)
    return query


def group(n, sep):
    """n with a thousands separator, as a Java locale prints it (sep "" means none)."""
    s = str(n)
    if not sep or n < 1000:
        return s
    if sep == "nbsp":
        sep = "\u00a0"
    parts = []
    while s:
        parts.insert(0, s[-3:])
        s = s[:-3]
    return sep.join(parts)


class State:
    def __init__(self, secret, algorithms):
        self.lock = threading.Lock()
        self.secret = secret
        self.algorithms = set(algorithms)
        self.participants = [1]
        self.breakouts = []
        self.mode = "ok"
        self.delay_ms = 0
        self.sep = ""
        self.failed_key = "internalError"
        self.reset()

    def reset(self):
        self.requests = 0
        self.ok = 0
        self.checksum_errors = 0
        self.by_algorithm = {}


def meeting_xml(index, n, sep, breakout_of=None, sequence=0, breakout_ids=()):
    """One <meeting> element in the shape of BBB's get-meetings template (2.6/2.7)."""
    mid = f"room-{index}" if breakout_of is None else f"{breakout_of}-breakout-{sequence}"
    internal = hashlib.sha1(mid.encode()).hexdigest() + "-1718196455938"
    voice = n // 2
    listeners = n - voice
    video = n // 3
    moderators = 1 if n else 0
    attendees = []
    for u in range(min(n, 20)):
        client = "dial-in-user" if u == 1 else "HTML5"
        attendees.append(
            "<attendee>"
            f"<userID>w_{index}_{u}</userID><fullName>User {u}</fullName>"
            f"<role>{'MODERATOR' if u == 0 else 'VIEWER'}</role>"
            f"<isPresenter>{'true' if u == 0 else 'false'}</isPresenter>"
            f"<isListeningOnly>{'true' if u >= voice else 'false'}</isListeningOnly>"
            f"<hasJoinedVoice>{'true' if u < voice else 'false'}</hasJoinedVoice>"
            f"<hasVideo>{'true' if u < video else 'false'}</hasVideo>"
            f"<clientType>{client}</clientType>"
            "</attendee>")
    parts = [
        "<meeting>",
        f"<meetingName>{html.escape(mid)}</meetingName>",
        f"<meetingID>{html.escape(mid)}</meetingID>",
        f"<internalMeetingID>{internal}</internalMeetingID>",
        "<createTime>1718196455938</createTime>",
        "<createDate>Wed Jun 12 12:47:35 UTC 2024</createDate>",
        "<voiceBridge>29682</voiceBridge><dialNumber>613-555-1234</dialNumber>",
        "<attendeePW>ap</attendeePW><moderatorPW>mp</moderatorPW>",
        "<running>true</running><duration>0</duration><hasUserJoined>true</hasUserJoined>",
        "<recording>false</recording><hasBeenForciblyEnded>false</hasBeenForciblyEnded>",
        "<startTime>1718196455941</startTime><endTime>0</endTime>",
        f"<participantCount>{group(n, sep)}</participantCount>",
        f"<listenerCount>{group(listeners, sep)}</listenerCount>",
        f"<voiceParticipantCount>{group(voice, sep)}</voiceParticipantCount>",
        f"<videoCount>{group(video, sep)}</videoCount>",
        "<maxUsers>0</maxUsers>",
        f"<moderatorCount>{group(moderators, sep)}</moderatorCount>",
        "<attendees>" + "".join(attendees) + "</attendees>",
        "<metadata><bbb-origin>seatmeter-test</bbb-origin><participantCount>999</participantCount></metadata>",
        f"<isBreakout>{'true' if breakout_of is not None else 'false'}</isBreakout>",
    ]
    if breakout_of is not None:
        parts.append(f"<parentMeetingID>{html.escape(breakout_of)}</parentMeetingID>"
                     f"<sequence>{sequence}</sequence><freeJoin>false</freeJoin>")
    if breakout_ids:
        parts.append("<breakoutRooms>" + "".join(f"<breakout>{b}</breakout>" for b in breakout_ids)
                     + "</breakoutRooms>")
    parts.append("</meeting>")
    return "\n".join(parts)


def meetings_xml(participants, breakouts, sep):
    """A getMeetings answer: SUCCESS with every meeting, or BBB's noMeetings shape."""
    if not participants and not breakouts:
        return ("<response>\n<returncode>SUCCESS</returncode>\n<meetings/>\n"
                "<messageKey>noMeetings</messageKey>\n"
                "<message>no meetings were found on this server</message>\n</response>")
    body = ["<response>", "<returncode>SUCCESS</returncode>", "<meetings>"]
    parent = "room-0"
    breakout_ids = [f"{parent}-breakout-{i + 1}" for i in range(len(breakouts))]
    for i, n in enumerate(participants):
        body.append(meeting_xml(i, n, sep, breakout_ids=breakout_ids if i == 0 else ()))
    for i, n in enumerate(breakouts):
        body.append(meeting_xml(1000 + i, n, sep, breakout_of=parent, sequence=i + 1))
    body += ["</meetings>", "</response>"]
    return "\n".join(body)


def failed_xml(key, message):
    return (f"<response>\n<returncode>FAILED</returncode>\n<messageKey>{html.escape(key)}</messageKey>\n"
            f"<message>{html.escape(message)}</message>\n</response>")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bbbserver"

    def log_message(self, fmt, *args):  # quiet: the tests read /_stats instead
        pass

    def send(self, status, body, ctype="text/xml;charset=utf-8", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        st = self.server.state
        path, _, query = self.path.partition("?")
        if path == "/_control":
            return self.control(urllib.parse.parse_qs(query, keep_blank_values=True))
        if path == "/_stats":
            with st.lock:
                return self.send(200, json.dumps({
                    "requests": st.requests, "ok": st.ok, "checksum_errors": st.checksum_errors,
                    "algorithms": st.by_algorithm}), "application/json")
        if path == "/_reset":
            with st.lock:
                st.reset()
            return self.send(200, "{}", "application/json")
        for prefix in (API_PREFIX, MOVED_PREFIX):
            if path.startswith(prefix):
                return self.api(path[len(prefix):], query, moved=prefix == MOVED_PREFIX)
        return self.send(404, "not found", "text/plain")

    def control(self, q):
        st = self.server.state
        with st.lock:
            try:
                if "participants" in q:
                    v = q["participants"][0]
                    st.participants = [int(x) for x in v.split(",") if x != ""]
                if "breakouts" in q:
                    v = q["breakouts"][0]
                    st.breakouts = [int(x) for x in v.split(",") if x != ""]
                if "mode" in q:
                    if q["mode"][0] not in MODES:
                        raise ValueError("unknown mode")
                    st.mode = q["mode"][0]
                if "delay_ms" in q:
                    st.delay_ms = int(q["delay_ms"][0])
                if "sep" in q:
                    st.sep = q["sep"][0]
                if "failed_key" in q:
                    st.failed_key = q["failed_key"][0]
                if "algorithms" in q:
                    st.algorithms = set(a for a in q["algorithms"][0].split(",") if a)
            except ValueError as e:
                return self.send(400, json.dumps({"error": str(e)}), "application/json")
        return self.send(200, json.dumps({"ok": True}), "application/json")

    def api(self, call, query, moved):
        st = self.server.state
        with st.lock:
            st.requests += 1
            mode, delay_ms, sep = st.mode, st.delay_ms, st.sep
            participants, breakouts = list(st.participants), list(st.breakouts)
            secret, allowed, failed_key = st.secret, set(st.algorithms), st.failed_key
        if delay_ms:
            time.sleep(delay_ms / 1000.0)

        if mode == "http500":
            return self.send(500, "<html><body>Internal Server Error</body></html>", "text/html")
        if mode == "redirect_loop":
            return self.send(302, "", headers=[("Location", self.path)])
        if mode == "redirect" and not moved:
            return self.send(302, "", headers=[("Location", MOVED_PREFIX + call + "?" + query)])

        # Checksum as BBB verifies it.
        values = urllib.parse.parse_qs(query, keep_blank_values=True)
        given = values.get("checksum", [""])[0]
        algorithm = ALGORITHMS_BY_LENGTH.get(len(given))
        expected = None
        if algorithm and algorithm in allowed:
            expected = checksum(algorithm, call, strip_checksum(query, given), secret)
        if not given or expected is None or expected != given:
            with st.lock:
                st.checksum_errors += 1
            return self.send(200, failed_xml("checksumError", "You did not pass the checksum security check"))
        with st.lock:
            st.by_algorithm[algorithm] = st.by_algorithm.get(algorithm, 0) + 1

        if call != "getMeetings":
            return self.send(200, failed_xml("unsupportedRequest", "This request is not supported."))
        if mode == "failed":
            return self.send(200, failed_xml(failed_key, "Something went wrong on the test server."))
        if mode == "garbage":
            return self.send(200, b"\x00\x01 this is { not xml ]]> \xff", "application/octet-stream")
        if mode == "html":
            return self.send(200, "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>", "text/html")
        if mode == "no_meetings_element":
            return self.send(200, "<response><returncode>SUCCESS</returncode></response>")
        if mode == "huge":
            return self.send(200, "<response><returncode>SUCCESS</returncode><!-- " + "x" * (9 * 1024 * 1024)
                             + " --></response>")
        body = meetings_xml(participants, breakouts, sep)
        if mode == "truncated":
            body = body[: len(body) // 2]
        with st.lock:
            st.ok += 1
        return self.send(200, body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start(secret, algorithms=ALL_ALGORITHMS, port=0):
    """Starts a server in a thread of the calling process; returns it (server.server_port, .state)."""
    srv = Server(("127.0.0.1", port), Handler)
    srv.state = State(secret, algorithms)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secret", required=True)
    ap.add_argument("--algorithms", default=",".join(ALL_ALGORITHMS))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args.secret, [a for a in args.algorithms.split(",") if a])
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"bbbserver listening on 127.0.0.1:{srv.server_port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
