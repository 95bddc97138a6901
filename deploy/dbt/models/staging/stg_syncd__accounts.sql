select
    id as account_id,
    name as account_name,
    synced_at
from {{ source('syncd', 'accounts') }}
