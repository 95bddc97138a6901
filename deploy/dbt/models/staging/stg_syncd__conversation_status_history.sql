select
    conversation_id,
    observed_at,
    workspace_id,
    from_status,
    nullif(to_status, '') as to_status,
    from_status is null as is_first_sighting
from {{ source('syncd', 'conversation_status_history') }}
