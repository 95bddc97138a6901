-- Conversations without syncd's bookkeeping columns, live or deleted (is_deleted).
select
    id as conversation_id,
    workspace_id,
    tenant_id,
    channel_id,
    channel_type,
    contact_id,
    account_id,
    status,
    state_summary,
    outcome,
    human_managing_user_id,
    last_activity_at,
    created_at,
    updated_at,
    last_message_preview,
    last_message_at,
    contact_name,
    contact_email,
    account_name,
    human_managed,
    form_type,
    auto_resolved,
    last_turn_routing_path,
    deleted_at,
    deleted_at is not null as is_deleted,
    synced_at
from {{ source('syncd', 'conversations') }}
-- listed, detail never read (fingerprint NULL): not announced yet, as in the analytics views
where fingerprint is not null
