#pragma once
/* The getMeetings answer of BigBlueButton, parsed with expat into per-meeting figures and totals.
 * Pure: takes a buffer, never a socket or a file, so it is unit-tested over fixtures and fuzzed. */

#include <stdbool.h>
#include <stddef.h>

#include "bbb-counts.h"
#include "macro.h"

#define BBB_BODY_MAX (8 * 1024 * 1024) /* larger getMeetings answers are refused */
#define BBB_XML_DEPTH_MAX 32             /* element nesting; BBB's answers are 6 deep (metadata 5+) */
#define BBB_XML_ELEMENTS_MAX 1000000     /* elements per answer */
#define BBB_XML_TEXT_MAX 1024            /* text of one element we read (counts, ids, message) */
#define BBB_MEETINGS_MAX 10000           /* meetings per answer */
#define BBB_ID_MAX 256                   /* meetingID, parentMeetingID: BBB allows 256 characters */
#define BBB_CLIENT_TYPES_MAX 8           /* distinct clientType values kept; more are added to "other" */
#define BBB_CLIENT_TYPE_NAME_MAX 32
#define BBB_COUNT_MAX 100000000          /* a count above this is not a count */
#define BBB_XML_CHUNK (64 * 1024)        /* bytes handed to expat at a time */

typedef struct BbbMeeting {
        char *meeting_id;                /* NULL when absent */
        char *parent_meeting_id;         /* breakout rooms only, NULL otherwise */
        int64_t participants, listeners, voice, video, moderators;
        int64_t attendees;               /* <attendee> elements listed */
        bool is_breakout;
} BbbMeeting;

typedef struct BbbClientType {
        char name[BBB_CLIENT_TYPE_NAME_MAX + 1]; /* as BBB sends it: "HTML5", "FLASH", "dial-in-user" */
        int64_t count;
} BbbClientType;

typedef struct BbbMeetings {
        BbbCounts totals;                /* sums over every meeting, breakout rooms included */
        int64_t attendees;               /* <attendee> elements over all meetings */
        size_t n_meetings;
        BbbMeeting *meetings;
        size_t n_client_types;
        BbbClientType client_types[BBB_CLIENT_TYPES_MAX + 1]; /* the last slot, when used, is "other" */
        char *message_key;               /* as sent (e.g. "noMeetings"), NULL when absent */
} BbbMeetings;

/* Parses a getMeetings body (size bytes, need not be NUL-terminated).
 *   0        success; *ret owns a BbbMeetings (free with bbb_meetings_free()).
 *   -EPROTO  returncode FAILED; *ret_error gets "messageKey: message".
 *   -EBADMSG not XML, truncated, not a <response>, no returncode, a count that is not a count, a limit
 *            above exceeded, or more than BBB_BODY_MAX bytes; *ret_error gets a short description.
 *   -ENOMEM
 * ret and ret_error may each be NULL; whatever is returned through them belongs to the caller. */
int bbb_xml_parse(const char *body, size_t size, BbbMeetings **ret, char **ret_error);

BbbMeetings *bbb_meetings_free(BbbMeetings *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(BbbMeetings *, bbb_meetings_free)

/* Parses a getMeetings XML body. Returns 0 and counts; -EBADMSG for non-XML or truncated bodies;
 * -EPROTO when returncode is FAILED (ret_error gets messageKey: message, caller frees). Counts may carry
 * thousands separators ("1,202", "1.202"). <meetings/> or no <meetings> element mean zero. On -EBADMSG
 * ret_error gets a short description too; ret_error may be NULL. */
int bbb_parse_meetings(const char *body, size_t size, BbbCounts *ret, char **ret_error);

/* Parses one count as BBB renders it: plain digits, or digits in groups of three with one kind of
 * thousands separator as Java locales print them ("1,202", "1.202", "1 202", "1'202", no-break and
 * narrow no-break spaces, U+2019). Leading and trailing whitespace is allowed. Returns 0, -EINVAL for
 * anything else ("1,2,3", "1.5", "-1", ""), -ERANGE above BBB_COUNT_MAX. */
int bbb_parse_count(const char *s, size_t n, int64_t *ret);
