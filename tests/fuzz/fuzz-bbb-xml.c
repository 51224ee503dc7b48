/* libFuzzer target: the getMeetings parser must never crash, leak or read out of bounds, whatever the
 * BBB server (or whoever sits in between) sends. The same entry function replays the corpus in the unit
 * suite (tests/fuzz/fuzz-replay.c, test bbb-xml-corpus). */

#include "daemon/bbb-xml.h"
#include "fuzz-bbb-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(bbb_meetings_freep) BbbMeetings *m = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = bbb_xml_parse((const char *)data, size, &m, &error);
        if (r == 0) {
                /* The totals are the sums of the meetings, whatever the input. */
                BbbCounts t = {0};

                assert(m);
                assert(!error);
                for (size_t i = 0; i < m->n_meetings; i++) {
                        t.participants += m->meetings[i].participants;
                        t.breakouts += m->meetings[i].is_breakout;
                }
                assert(t.participants == m->totals.participants);
                assert(t.breakouts == m->totals.breakouts);
                assert((size_t)m->totals.meetings == m->n_meetings);
                assert(m->n_client_types <= BBB_CLIENT_TYPES_MAX + 1);
        } else {
                assert(!m);
                assert(r == -EBADMSG || r == -EPROTO || r == -ENOMEM);
                assert(r == -ENOMEM || error);
        }
        return 0;
}
