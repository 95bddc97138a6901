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
    (direction = 'inbound' and coalesce(speaker, 'caller') = 'caller') as is_inbound,
    (direction = 'outbound' or coalesce(speaker, '') = 'ai') as is_response,
    synced_at
from {{ source('syncd', 'messages') }}
where deleted_at is null
