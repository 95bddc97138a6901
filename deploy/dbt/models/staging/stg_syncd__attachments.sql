select
    id as attachment_id,
    conversation_id,
    message_id,
    file_name,
    mime_type,
    size_bytes,
    status,
    created_at,
    synced_at
from {{ source('syncd', 'attachments') }}
