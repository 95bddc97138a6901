"""Text the generator draws from: names, companies, messages and files, in several scripts."""

from __future__ import annotations

FIRST_NAMES = (
    "Henrik",
    "Anna",
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "François",
    "Ångström",
    "Müge",
    "Chloé",
    "Björn",
    "Iñaki",
    "Priya",
    "Olúwaseun",
    "Ngọc",
    "太郎",
    "芳",
    "민준",
    "Αλέξανδρος",
    "Дмитрий",
)

LAST_NAMES = (
    "Larsen",
    "Johansson",
    "García",
    "Müller",
    "Wiśniewski",
    "Kierkegaard",
    "Dubois",
    "Ødegård",
    "Yılmaz",  # noqa: RUF001 (the dotless i is on purpose)
    "O'Brien",
    "Nuñez",
    "Patel",
    "Nguyễn",
    "山田",
    "王",
    "김",
    "Παπαδόπουλος",
    "Иванов",
)

EMAIL_LOCALS = ("henrik", "anna.j", "jose", "zoe", "lukasz.w", "soren", "f.dubois", "info", "sales")

COMPANIES = (
    "Nordic Parts ApS",
    "Scandinavian Imports AB",
    "Café Émile SARL",
    "Müller & Söhne GmbH",
    "東京トレーディング株式会社",
    "서울 로지스틱스",
    "Ωμέγα Εμπορική",
    "Żabka Hurt sp. z o.o.",
    "Niño Verde S.L.",
    "Acme Widgets Ltd",
)

DOMAINS = ("nordic-parts.dk", "scandi-imports.se", "cafe-emile.fr", "mueller.de", "example.jp")

SUBJECTS = (
    "Question about order #NP-{n}",
    "Rücksendung Bestellung {n}",
    "Facture n° {n} — erreur de montant",
    "注文番号 {n} について",
    "Delivery delayed 📦 ({n})",
    "Quote request for {n} units",
    "Problem with my account",
)

INBOUND_BODIES = (
    "Hi, I placed order NP-{n} last week. Can you tell me when it will be delivered?",
    "Hallo, ich möchte die Bestellung {n} zurückgeben. Wie geht das?",
    "Bonjour, la facture {n} indique un montant erroné. Pouvez-vous vérifier ?",
    "こんにちは、注文 {n} の配送状況を教えてください。",
    "My parcel {n} still hasn't arrived 😞 any news?",
    "Can I talk to a person please? 🙏",
    "Thanks, that worked! 👍",
    "주문 {n} 취소하고 싶어요.",
    "Is the discount still valid for order {n}?",
    "Olá! O pedido {n} chegou danificado.",
)

OUTBOUND_BODIES = (
    "Hello,\n\nThank you for reaching out. Your order {n} shipped this morning.",
    "Ich habe die Rücksendung für Bestellung {n} angelegt — das Etikett kommt per E-Mail.",
    "Merci ! Nous avons corrigé la facture {n}. ✅",
    "ご連絡ありがとうございます。注文 {n} は明日到着予定です。",
    "I've checked with our warehouse: tracking number DHL-{n}.",
    "A colleague will take over shortly. 🙂",
    "Is there anything else I can help you with?",
)

VOICE_CALLER_LINES = (
    "Hi, I'm calling about order {n}.",
    "Yes, that's the one — it hasn't arrived.",
    "Okay, danke schön!",
    "Can you send me the tracking number by SMS?",
)

VOICE_AI_LINES = (
    "Thanks for calling. Could you give me your order number?",
    "I can see order {n}; it is out for delivery today.",
    "I've sent the tracking number to your phone.",
    "Is there anything else I can help with?",
)

HUMAN_REPLIES = (
    "Hi, this is a human colleague — I'm looking into order {n} now.",
    "Sorry for the wait! I've refunded order {n}. 💶",
)

FILES = (
    ("purchase-order.pdf", "application/pdf"),
    ("Rechnung_März.pdf", "application/pdf"),
    ("見積書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("damaged-parcel.jpg", "image/jpeg"),
    ("screenshot 2026-03-15.png", "image/png"),
    ("call-recording.mp3", "audio/mpeg"),
    ("notes.txt", "text/plain"),
)

FORM_TYPES = ("contact_form", "return_request", "quote_request", "support_ticket")

ROUTING_PATHS = ("ai_answer", "kb_lookup", "tool_call", "guardrail_gate", "human_handoff")

OUTCOMES = (
    "Delivery date confirmed, customer satisfied",
    "Refund issued",
    "Rücksendung genehmigt",
    "Duplicate of another conversation",
)

REASONS = (
    "Order delivered, customer confirmed receipt.",
    "Handled by phone.",
    "Faux positif — rien à faire.",
    "対応済みです。",
)

TOOLS = ("get_order", "issue_refund", "crm_lookup", "create_return_label", "update_address")

KB_TITLES = ("Returns policy", "Shipping times", "Rückgaberecht", "配送について", "Warranty 🛠")

EDIT_NOTES = ("(edited)", "— corrected", "[typo fixed]", "(bearbeitet)", "[修正済み]", "✏️")

SUMMARY_NOTES = (
    "Waiting for the warehouse to confirm order {n}.",
    "Refund for order {n} approved; customer informed.",
    "Kunde wartet auf das Rücksendeetikett für {n}.",
    "Le client attend une facture corrigée ({n}).",
    "注文 {n} の配送日を確認中。",
)
