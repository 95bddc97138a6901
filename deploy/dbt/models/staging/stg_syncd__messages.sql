-- Messages that their conversation's history still lists; inbound/response as the views count them.
select
    id as message_id,
    conversation_id,
    direction,
    speaker,
    body,
    sent_at,
    channel,
    from_address,
    subject,
    (speaker = 'caller' or (speaker is null and direction = 'inbound')) as is_inbound,
    (speaker = 'ai' or (speaker is null and direction = 'outbound')) as is_response,
    synced_at
from {{ source('syncd', 'messages') }}
where deleted_at is null
