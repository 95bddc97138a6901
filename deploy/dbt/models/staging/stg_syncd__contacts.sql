select
    id as contact_id,
    first_name,
    last_name,
    email,
    synced_at
from {{ source('syncd', 'contacts') }}
