-- Rows returned fail the test: counts that do not add up, or a response not after the inbound.
select *
from {{ ref('stg_syncd__conversation_facts') }}
where inbound_count + outbound_count > message_count
   or open_attention_item_count > attention_item_count
   or first_response_at <= first_inbound_at
   or first_response_s < 0
   or (first_response_at is not null and first_inbound_at is null)
