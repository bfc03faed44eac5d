-- A chat send in one statement: the app calls `select … from chat_send(…)` outside any explicit transaction, so
-- the statement is its own transaction (the message and its outbox event commit together) and costs one round trip
-- instead of six (BEGIN, lock, read, write, outbox, COMMIT). The rules are those `ChatService.send` documents; the
-- function reports which one refused with `status` and the service turns that into the error users see.
--
-- VOLATILE (the default): under READ COMMITTED every statement below takes a fresh snapshot, so the reads after
-- the lock see a removal, a block or a retry that committed while this send waited for the conversation row.
CREATE FUNCTION chat_send(
  p_conversation_id uuid,
  p_sender_id uuid,
  p_client_id text,
  p_body text,
  -- The outbox event's dispatched_at: now when no subscriber takes the topic (see Outbox.preDispatched), else null.
  p_dispatched_at timestamptz,
  -- 'sent', 'duplicate' (the message an earlier attempt with this client id made), 'not_found', 'archived',
  -- 'blocked'.
  OUT status text,
  OUT message messages,
  OUT sender_nickname text,
  OUT sender_avatar_url text
) LANGUAGE plpgsql AS $$
DECLARE
  v_conversation conversations;
  v_left_at timestamptz;
  v_other uuid;
BEGIN
  -- Sends into one conversation are numbered one at a time: everything below runs under this lock.
  SELECT * INTO v_conversation FROM conversations c WHERE c.id = p_conversation_id FOR UPDATE;
  IF NOT FOUND THEN
    status := 'not_found';
    RETURN;
  END IF;

  SELECT m.left_at, u.nickname, u.avatar_url INTO v_left_at, sender_nickname, sender_avatar_url
    FROM conversation_members m JOIN users u ON u.id = m.user_id
    WHERE m.conversation_id = p_conversation_id AND m.user_id = p_sender_id;
  IF NOT FOUND OR v_left_at IS NOT NULL THEN
    status := 'not_found';
    sender_nickname := NULL;
    sender_avatar_url := NULL;
    RETURN;
  END IF;

  -- A retry returns the first message, even into a conversation archived or a pair blocked since.
  SELECT * INTO message FROM messages x
    WHERE x.conversation_id = p_conversation_id AND x.sender_id = p_sender_id AND x.client_id = p_client_id;
  IF FOUND THEN
    status := 'duplicate';
    RETURN;
  END IF;

  IF v_conversation.archived_at IS NOT NULL THEN
    status := 'archived';
    RETURN;
  END IF;

  -- A direct conversation takes no message while either of its two people has blocked the other.
  IF v_conversation.kind = 'direct' AND v_conversation.direct_key IS NOT NULL THEN
    SELECT k.id::uuid INTO v_other
      FROM unnest(string_to_array(v_conversation.direct_key, ':')) WITH ORDINALITY AS k(id, n)
      WHERE k.id <> p_sender_id::text ORDER BY k.n LIMIT 1;
    IF v_other IS NOT NULL AND EXISTS (
      SELECT 1 FROM user_blocks b
        WHERE (b.blocker_id = p_sender_id AND b.blocked_id = v_other)
           OR (b.blocker_id = v_other AND b.blocked_id = p_sender_id)
    ) THEN
      status := 'blocked';
      RETURN;
    END IF;
  END IF;

  -- The next number is free: the row lock keeps other sends out (the unique index on it would refuse it otherwise).
  INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body)
    VALUES (p_conversation_id, v_conversation.last_seq + 1, p_sender_id, p_client_id, 'text', p_body)
    RETURNING * INTO message;
  UPDATE conversations SET last_seq = message.seq WHERE id = p_conversation_id;
  UPDATE conversation_members SET last_read_seq = greatest(last_read_seq, message.seq)
    WHERE conversation_id = p_conversation_id AND user_id = p_sender_id;
  INSERT INTO outbox_events (topic, payload, actor_id, dispatched_at)
    VALUES (
      'chat.message_sent',
      jsonb_build_object(
        'conversationId', p_conversation_id,
        'messageId', message.id,
        'seq', message.seq,
        'senderId', p_sender_id
      ),
      p_sender_id,
      p_dispatched_at
    );
  status := 'sent';
END;
$$;
