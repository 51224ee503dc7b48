-- seatmeter schema, version 2: resends are de-duplicated by sequence number, per spool stream.
-- An agent names its stream (a random id created with its spool file, sent in Hello); each (agent,
-- stream, seq) is stored once. Stream 0 is an agent that names none (protocol before streams): its
-- sequence numbers are per agent. The newest timestamp is never used to decide what is a resend.
CREATE TABLE streams (
        agent INTEGER NOT NULL,                -- agents.num
        stream INTEGER NOT NULL,               -- the agent's 64-bit stream id, as a signed integer
        last_seq INTEGER NOT NULL,             -- every sample of this stream up to here is committed
        PRIMARY KEY (agent, stream)
) WITHOUT ROWID;

-- Agents of the first protocol continue their per-agent sequence numbers.
INSERT INTO streams (agent, stream, last_seq) SELECT num, 0, last_seq FROM agents WHERE last_seq > 0;
