/* See bbb-xml.h. The parser follows the element path (response/meetings/meeting/...) rather than
 * element names alone, because <metadata> and <customdata> carry arbitrary names chosen by whoever
 * created the meeting: a metadata key called participantCount must not count. */

#include <inttypes.h>
#include <strings.h>
#include <stdarg.h>

#include <expat.h>

#include "bbb-xml.h"
#include "util.h"

typedef enum Kind {
        K_OTHER,
        K_RESPONSE,
        K_RETURNCODE,
        K_MESSAGE_KEY,
        K_MESSAGE,
        K_MEETINGS,
        K_MEETING,
        K_MEETING_ID,
        K_PARENT_ID,
        K_IS_BREAKOUT,
        K_PARTICIPANTS,
        K_LISTENERS,
        K_VOICE,
        K_VIDEO,
        K_MODERATORS,
        K_ATTENDEES,
        K_ATTENDEE,
        K_CLIENT_TYPE,
        K_BREAKOUT_INFO,   /* <breakout> inside a meeting (older servers put parentMeetingId there) */
        _K_MAX,
} Kind;

/* Leaf elements whose text we collect. */
static bool kind_is_leaf(Kind k)
{
        return k == K_RETURNCODE || k == K_MESSAGE_KEY || k == K_MESSAGE || k == K_MEETING_ID ||
               k == K_PARENT_ID || k == K_IS_BREAKOUT || k == K_PARTICIPANTS || k == K_LISTENERS ||
               k == K_VOICE || k == K_VIDEO || k == K_MODERATORS || k == K_CLIENT_TYPE;
}

typedef struct Parser {
        XML_Parser xml;
        int error;                       /* first error, <0 */
        char error_text[256];

        unsigned depth;
        Kind stack[BBB_XML_DEPTH_MAX];
        size_t n_elements;

        char text[BBB_XML_TEXT_MAX + 1];
        size_t text_len;
        bool text_overflow;

        bool seen_root, seen_returncode, seen_meetings;
        char *returncode, *message;
        uint32_t meeting_seen;           /* bit per Kind already seen in the current meeting */

        BbbMeetings *m;
        size_t meetings_alloc;
} Parser;

_printf_(3, 4) static void parser_fail(Parser *p, int error, const char *fmt, ...)
{
        va_list ap;

        if (p->error < 0)
                return;
        p->error = error;
        va_start(ap, fmt);
        vsnprintf(p->error_text, sizeof p->error_text, fmt, ap);
        va_end(ap);
        XML_StopParser(p->xml, XML_FALSE);
}

static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of the thousands separator at s (n bytes left), 0 when there is none. */
static size_t separator_len(const char *s, size_t n)
{
        static const char *const seps[] = {
                ",", ".", "'", " ",
                "\xc2\xa0",      /* U+00A0 no-break space */
                "\xe2\x80\xaf",  /* U+202F narrow no-break space (fr locales since Java 13) */
                "\xe2\x80\x99",  /* U+2019 right single quotation mark (de-CH) */
        };

        for (size_t i = 0; i < ELEMENTSOF(seps); i++) {
                size_t l = strlen(seps[i]);
                if (l <= n && memcmp(s, seps[i], l) == 0)
                        return l;
        }
        return 0;
}

int bbb_parse_count(const char *s, size_t n, int64_t *ret)
{
        const char *sep = NULL;
        size_t sep_len = 0, i = 0, group = 0, groups = 0;
        int64_t v = 0;

        assert(s || n == 0);

        while (n > 0 && is_ws(s[n - 1]))
                n--;
        while (i < n && is_ws(s[i]))
                i++;
        if (i >= n)
                return -EINVAL;

        while (i < n) {
                if (s[i] >= '0' && s[i] <= '9') {
                        v = v * 10 + (s[i] - '0');
                        if (v > BBB_COUNT_MAX)
                                return -ERANGE;
                        group++;
                        i++;
                        continue;
                }

                size_t l = separator_len(s + i, n - i);
                if (l == 0)
                        return -EINVAL;
                /* The first group has 1-3 digits, every later one exactly 3, all with the same separator. */
                if (groups == 0 ? (group < 1 || group > 3) : group != 3)
                        return -EINVAL;
                if (sep && (l != sep_len || memcmp(sep, s + i, l) != 0))
                        return -EINVAL;
                sep = s + i;
                sep_len = l;
                groups++;
                group = 0;
                i += l;
        }
        if (group == 0 || (groups > 0 && group != 3))
                return -EINVAL;

        *ret = v;
        return 0;
}

static char *text_trimmed_dup(const Parser *p)
{
        size_t a = 0, b = p->text_len;

        while (a < b && is_ws(p->text[a]))
                a++;
        while (b > a && is_ws(p->text[b - 1]))
                b--;
        return strndup(p->text + a, b - a);
}

static BbbMeeting *current_meeting(Parser *p)
{
        assert(p->m->n_meetings > 0);
        return &p->m->meetings[p->m->n_meetings - 1];
}

static int meeting_add(Parser *p)
{
        BbbMeetings *m = p->m;
        int r;

        r = GREEDY_REALLOC_CAPPED(m->meetings, p->meetings_alloc, m->n_meetings + 1, (size_t)BBB_MEETINGS_MAX);
        if (r < 0)
                return r; /* -E2BIG past BBB_MEETINGS_MAX */
        m->meetings[m->n_meetings++] = (BbbMeeting){0};
        p->meeting_seen = 0;
        return 0;
}

static Kind classify(Parser *p, Kind parent, const char *name)
{
        switch (parent) {
        case K_RESPONSE:
                if (streq(name, "returncode"))
                        return K_RETURNCODE;
                if (streq(name, "messageKey"))
                        return K_MESSAGE_KEY;
                if (streq(name, "message"))
                        return K_MESSAGE;
                if (streq(name, "meetings"))
                        return K_MEETINGS;
                return K_OTHER;
        case K_MEETINGS:
                return streq(name, "meeting") ? K_MEETING : K_OTHER;
        case K_MEETING:
                if (streq(name, "meetingID"))
                        return K_MEETING_ID;
                if (strcasecmp(name, "parentMeetingID") == 0)
                        return K_PARENT_ID;
                if (streq(name, "isBreakout"))
                        return K_IS_BREAKOUT;
                if (streq(name, "participantCount"))
                        return K_PARTICIPANTS;
                if (streq(name, "listenerCount"))
                        return K_LISTENERS;
                if (streq(name, "voiceParticipantCount"))
                        return K_VOICE;
                if (streq(name, "videoCount"))
                        return K_VIDEO;
                if (streq(name, "moderatorCount"))
                        return K_MODERATORS;
                if (streq(name, "attendees"))
                        return K_ATTENDEES;
                if (streq(name, "breakout"))
                        return K_BREAKOUT_INFO;
                return K_OTHER;
        case K_BREAKOUT_INFO:
                return strcasecmp(name, "parentMeetingID") == 0 ? K_PARENT_ID : K_OTHER;
        case K_ATTENDEES:
                return streq(name, "attendee") ? K_ATTENDEE : K_OTHER;
        case K_ATTENDEE:
                return streq(name, "clientType") ? K_CLIENT_TYPE : K_OTHER;
        default:
                return K_OTHER;
        }
}

static void XMLCALL on_start(void *userdata, const XML_Char *name, const XML_Char **attrs)
{
        Parser *p = userdata;
        Kind k;

        if (p->error < 0)
                return;
        if (++p->n_elements > BBB_XML_ELEMENTS_MAX) {
                parser_fail(p, -EBADMSG, "more than %d elements", BBB_XML_ELEMENTS_MAX);
                return;
        }
        if (p->depth >= BBB_XML_DEPTH_MAX) {
                parser_fail(p, -EBADMSG, "elements nested deeper than %d", BBB_XML_DEPTH_MAX);
                return;
        }

        if (p->depth == 0) {
                if (!streq(name, "response")) {
                        parser_fail(p, -EBADMSG, "root element is <%.64s>, not <response>", name);
                        return;
                }
                k = K_RESPONSE;
                p->seen_root = true;
        } else
                k = classify(p, p->stack[p->depth - 1], name);

        switch (k) {
        case K_MEETINGS:
                if (p->seen_meetings) {
                        parser_fail(p, -EBADMSG, "more than one <meetings> element");
                        return;
                }
                p->seen_meetings = true;
                break;
        case K_MEETING: {
                int r = meeting_add(p);
                if (r == -E2BIG) {
                        parser_fail(p, -EBADMSG, "more than %d meetings", BBB_MEETINGS_MAX);
                        return;
                }
                if (r < 0) {
                        parser_fail(p, r, "out of memory");
                        return;
                }
                break;
        }
        case K_ATTENDEE:
                current_meeting(p)->attendees++;
                p->m->attendees++;
                break;
        case K_MEETING_ID:
        case K_IS_BREAKOUT:
        case K_PARTICIPANTS:
        case K_LISTENERS:
        case K_VOICE:
        case K_VIDEO:
        case K_MODERATORS:
                if (p->meeting_seen & (UINT32_C(1) << k)) {
                        parser_fail(p, -EBADMSG, "<%.64s> twice in one meeting", name);
                        return;
                }
                p->meeting_seen |= UINT32_C(1) << k;
                break;
        default:
                break;
        }

        p->stack[p->depth++] = k;
        p->text_len = 0;
        p->text_overflow = false;
}

static void XMLCALL on_text(void *userdata, const XML_Char *s, int len)
{
        Parser *p = userdata;
        size_t n;

        if (p->error < 0 || p->depth == 0 || len <= 0 || !kind_is_leaf(p->stack[p->depth - 1]))
                return;
        n = (size_t)len;
        if (n > BBB_XML_TEXT_MAX - p->text_len) {
                n = BBB_XML_TEXT_MAX - p->text_len;
                p->text_overflow = true;
        }
        memcpy(p->text + p->text_len, s, n);
        p->text_len += n;
        p->text[p->text_len] = 0;
}

static void set_count(Parser *p, const char *name, int64_t *field)
{
        int64_t v;
        int r;

        if (p->text_overflow) {
                parser_fail(p, -EBADMSG, "<%s> longer than %d bytes", name, BBB_XML_TEXT_MAX);
                return;
        }
        r = bbb_parse_count(p->text, p->text_len, &v);
        if (r < 0) {
                parser_fail(p, -EBADMSG, "<%s> is not a count: '%.32s'", name, p->text);
                return;
        }
        *field = v;
}

static void set_id(Parser *p, const char *name, char **field)
{
        char *s;

        if (p->text_overflow) {
                parser_fail(p, -EBADMSG, "<%s> longer than %d bytes", name, BBB_XML_TEXT_MAX);
                return;
        }
        s = text_trimmed_dup(p);
        if (!s) {
                parser_fail(p, -ENOMEM, "out of memory");
                return;
        }
        if (strlen(s) > BBB_ID_MAX) {
                free(s);
                parser_fail(p, -EBADMSG, "<%s> longer than %d characters", name, BBB_ID_MAX);
                return;
        }
        free(*field);
        *field = s;
}

static void add_client_type(Parser *p)
{
        BbbMeetings *m = p->m;
        _cleanup_free_ char *s = NULL;
        const char *name;

        s = text_trimmed_dup(p);
        if (!s) {
                parser_fail(p, -ENOMEM, "out of memory");
                return;
        }
        name = isempty(s) || strlen(s) > BBB_CLIENT_TYPE_NAME_MAX ? "other" : s;

        for (unsigned pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < m->n_client_types; i++)
                        if (streq(m->client_types[i].name, name)) {
                                m->client_types[i].count++;
                                return;
                        }
                /* The slots up to BBB_CLIENT_TYPES_MAX take any name; the one after it only "other",
                 * which collects the rest. */
                if (m->n_client_types < BBB_CLIENT_TYPES_MAX ||
                    (m->n_client_types == BBB_CLIENT_TYPES_MAX && streq(name, "other"))) {
                        BbbClientType *t = &m->client_types[m->n_client_types++];
                        snprintf(t->name, sizeof t->name, "%s", name);
                        t->count = 1;
                        return;
                }
                name = "other";
        }
}

static void XMLCALL on_end(void *userdata, const XML_Char *name)
{
        Parser *p = userdata;
        Kind k;

        if (p->error < 0 || p->depth == 0)
                return;
        k = p->stack[--p->depth];

        switch (k) {
        case K_RETURNCODE:
                if (p->seen_returncode) {
                        parser_fail(p, -EBADMSG, "more than one <returncode>");
                        return;
                }
                p->seen_returncode = true;
                free(p->returncode);
                p->returncode = text_trimmed_dup(p);
                if (!p->returncode) {
                        parser_fail(p, -ENOMEM, "out of memory");
                        return;
                }
                break;
        case K_MESSAGE_KEY:
                free(p->m->message_key);
                p->m->message_key = text_trimmed_dup(p); /* at most BBB_XML_TEXT_MAX, by on_text() */
                if (!p->m->message_key) {
                        parser_fail(p, -ENOMEM, "out of memory");
                        return;
                }
                break;
        case K_MESSAGE:
                free(p->message);
                p->message = text_trimmed_dup(p);
                if (!p->message) {
                        parser_fail(p, -ENOMEM, "out of memory");
                        return;
                }
                break;
        case K_MEETING_ID:
                set_id(p, name, &current_meeting(p)->meeting_id);
                break;
        case K_PARENT_ID:
                set_id(p, name, &current_meeting(p)->parent_meeting_id);
                break;
        case K_IS_BREAKOUT: {
                _cleanup_free_ char *s = text_trimmed_dup(p);
                if (!s) {
                        parser_fail(p, -ENOMEM, "out of memory");
                        return;
                }
                if (streq(s, "true"))
                        current_meeting(p)->is_breakout = true;
                else if (streq(s, "false"))
                        current_meeting(p)->is_breakout = false;
                else {
                        parser_fail(p, -EBADMSG, "<isBreakout> is neither true nor false: '%.32s'", s);
                        return;
                }
                break;
        }
        case K_PARTICIPANTS:
                set_count(p, name, &current_meeting(p)->participants);
                break;
        case K_LISTENERS:
                set_count(p, name, &current_meeting(p)->listeners);
                break;
        case K_VOICE:
                set_count(p, name, &current_meeting(p)->voice);
                break;
        case K_VIDEO:
                set_count(p, name, &current_meeting(p)->video);
                break;
        case K_MODERATORS:
                set_count(p, name, &current_meeting(p)->moderators);
                break;
        case K_CLIENT_TYPE:
                add_client_type(p);
                break;
        default:
                break;
        }
        p->text_len = 0;
        p->text_overflow = false;
}

/* BBB never sends a DTD; refusing one shuts out entity expansion attacks at the door. */
static void XMLCALL on_doctype(void *userdata, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
        parser_fail(userdata, -EBADMSG, "document type declarations are not accepted");
}

BbbMeetings *bbb_meetings_free(BbbMeetings *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_meetings; i++) {
                free(m->meetings[i].meeting_id);
                free(m->meetings[i].parent_meeting_id);
        }
        free(m->meetings);
        free(m->message_key);
        free(m);
        return NULL;
}

static void xml_parser_freep(XML_Parser *x)
{
        if (*x)
                XML_ParserFree(*x);
}

/* Sums the meetings' counts. Each count is at most BBB_COUNT_MAX, and so must their sums be: a server
 * whose totals are beyond any real one answered nonsense, and its poll fails with that reason (the store
 * would refuse the row, and the server would vanish from the API while the log said up). */
static int sum_totals(BbbMeetings *m, char *error, size_t error_size)
{
        BbbCounts t = {.meetings = (int64_t)m->n_meetings};

        for (size_t i = 0; i < m->n_meetings; i++) {
                const BbbMeeting *e = &m->meetings[i];
                t.participants += e->participants;
                t.listeners += e->listeners;
                t.voice += e->voice;
                t.video += e->video;
                t.moderators += e->moderators;
                t.breakouts += e->is_breakout;
        }
        if (MAX(MAX(t.participants, t.listeners), MAX(MAX(t.voice, t.video), t.moderators)) > BBB_COUNT_MAX) {
                snprintf(error, error_size, "totals over %d (%" PRIi64 " participants)", BBB_COUNT_MAX,
                         t.participants);
                return -ERANGE;
        }
        m->totals = t;
        return 0;
}

int bbb_xml_parse(const char *body, size_t size, BbbMeetings **ret, char **ret_error)
{
        _cleanup_(xml_parser_freep) XML_Parser xml = NULL;
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        _cleanup_free_ char *returncode = NULL, *message = NULL;
        Parser p = {0};
        bool ok = true;
        int r = 0;

        assert(body || size == 0);

        if (size > BBB_BODY_MAX) {
                if (ret_error && asprintf(ret_error, "answer larger than %d bytes", BBB_BODY_MAX) < 0)
                        *ret_error = NULL;
                return -EBADMSG;
        }

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        xml = XML_ParserCreate(NULL);
        if (!xml)
                return -ENOMEM;

        p.xml = xml;
        p.m = m;
        XML_SetUserData(xml, &p);
        XML_SetElementHandler(xml, on_start, on_end);
        XML_SetCharacterDataHandler(xml, on_text);
        XML_SetStartDoctypeDeclHandler(xml, on_doctype);

        /* Fed in slices: expat is markedly slower on one multi-megabyte buffer (measured: 6 MB in about
         * half the time). */
        for (size_t off = 0;;) {
                size_t n = MIN(size - off, (size_t)BBB_XML_CHUNK);
                bool last = off + n >= size;

                if (XML_Parse(xml, body ? body + off : "", (int)n, last) != XML_STATUS_OK) {
                        ok = false;
                        break;
                }
                off += n;
                if (last)
                        break;
        }
        if (!ok && p.error >= 0) {
                p.error = -EBADMSG;
                snprintf(p.error_text, sizeof p.error_text, "not XML: %s at line %lu column %lu",
                         XML_ErrorString(XML_GetErrorCode(xml)), (unsigned long)XML_GetCurrentLineNumber(xml),
                         (unsigned long)XML_GetCurrentColumnNumber(xml));
        }
        returncode = TAKE_PTR(p.returncode);
        message = TAKE_PTR(p.message);

        if (p.error >= 0) {
                if (!p.seen_root) {
                        p.error = -EBADMSG;
                        snprintf(p.error_text, sizeof p.error_text, "no <response> element");
                } else if (!returncode) {
                        p.error = -EBADMSG;
                        snprintf(p.error_text, sizeof p.error_text, "no <returncode> element");
                } else if (streq(returncode, "FAILED")) {
                        p.error = -EPROTO;
                        snprintf(p.error_text, sizeof p.error_text, "%.64s: %.180s",
                                 m->message_key ? m->message_key : "FAILED", strna(message));
                } else if (!streq(returncode, "SUCCESS")) {
                        p.error = -EBADMSG;
                        snprintf(p.error_text, sizeof p.error_text, "unknown returncode '%.32s'", returncode);
                }
        }
        r = p.error;
        if (r >= 0)
                r = sum_totals(m, p.error_text, sizeof p.error_text);
        if (r < 0) {
                if (ret_error) {
                        *ret_error = strdup(p.error_text);
                        if (!*ret_error)
                                return -ENOMEM;
                }
                return r;
        }

        if (ret)
                *ret = TAKE_PTR(m);
        return 0;
}

int bbb_parse_meetings(const char *body, size_t size, BbbCounts *ret, char **ret_error)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        int r;

        r = bbb_xml_parse(body, size, &m, ret_error);
        if (r < 0)
                return r;
        if (ret)
                *ret = m->totals;
        return 0;
}
