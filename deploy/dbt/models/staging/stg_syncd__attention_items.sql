select
    id as attention_item_id,
    tenant_id,
    workspace_id,
    conversation_id,
    type as attention_item_type,
    status,
    context,
    reason,
    created_at,
    resolved_at,
    turn_id,
    assigned_to_user_id,
    synced_at
from {{ source('syncd', 'attention_items') }}
