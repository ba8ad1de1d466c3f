"""Texts for the demo set (see make_sample.py). Plain data: no logic here."""

# -- customer support (compositional: each (issue, ask, reply) combination is used once) --------

PRODUCTS_EN = [
    "wireless headphones",
    "coffee grinder",
    "standing desk",
    "smart thermostat",
    "hiking backpack",
    "electric kettle",
    "yoga mat",
    "robot vacuum",
    "mechanical keyboard",
    "air purifier",
    "e-reader",
    "office chair",
    "blender",
    "desk lamp",
    "running shoes",
    "baby monitor",
    "rice cooker",
    "bike helmet",
    "portable speaker",
    "water filter",
]
NAMES = [
    "Ana",
    "Tom",
    "Priya",
    "Lucas",
    "Mei",
    "Omar",
    "Sofia",
    "Jonas",
    "Aisha",
    "Mateo",
    "Chloé",
    "Hugo",
    "Léa",
    "Nina",
    "Kenji",
    "Fatima",
    "Elena",
    "Ravi",
    "Marta",
    "Jakub",
]
SUPPORT_SYSTEM_EN = "You are a friendly customer support agent for an online store."
SUPPORT_SYSTEM_FR = "Tu es un agent du service client, poli et efficace, d'une boutique en ligne."
SUPPORT_SYSTEM_ES = "Eres un agente de atención al cliente de una tienda en línea."

# issue -> (two ways a customer asks, three ways an agent answers)
SUPPORT_EN = {
    "damaged": (
        [
            "My {product} arrived with a cracked casing and it won't turn on. Order {order}.",
            "The box was crushed in transit and the {product} inside is broken. "
            "What can I do? (order {order})",
        ],
        [
            "I'm sorry the {product} reached you damaged, {name}. Please reply with a photo of "
            "the item and the box, and I'll ship a free replacement for order {order} as soon as "
            "it arrives. You won't need to send the broken one back.",
            "Thanks for telling us, {name}. I've opened a replacement request on order {order}. "
            "A prepaid return label is on its way by email, and the new {product} ships within "
            "two business days.",
            "That's not how a {product} should arrive, {name}. I can offer a full refund or a "
            "replacement for order {order}; just tell me which you prefer and I'll process it "
            "today.",
        ],
    ),
    "late": (
        [
            "I ordered a {product} ten days ago (order {order}) and it still hasn't shown up.",
            "Where is my {product}? Tracking for order {order} hasn't moved since Monday.",
        ],
        [
            "I checked order {order}, {name}: the carrier scanned it at their regional hub "
            "yesterday, so it should reach you within two days. I've added a note to upgrade "
            "the delivery at no cost.",
            "Sorry for the wait, {name}. The parcel with your {product} looks stuck with the "
            "carrier, so I've filed a trace. If it hasn't moved by Friday, we'll send a new one "
            "by express shipping.",
            "You're right to ask, {name}. Order {order} left our warehouse late because of a "
            "stock issue. It shipped this morning, and you'll get a tracking link by email "
            "within the hour.",
        ],
    ),
    "refund": (
        [
            "I returned the {product} two weeks ago but I haven't seen the refund yet. "
            "Order {order}.",
            "How long does a refund take? I sent back my {product} (order {order}) last week.",
        ],
        [
            "We received your return for order {order} on the 4th, {name}, and the refund was "
            "issued the same day. Banks usually take three to five business days to show it.",
            "I can see the {product} was checked in at our warehouse, {name}. The refund for "
            "order {order} is approved; you'll see it on your card statement within a week.",
            "Refunds start once the item is inspected, which takes about two days. Your "
            "{product} is in that queue now, {name}, so expect an email confirming the amount "
            "soon.",
        ],
    ),
    "wrong_item": (
        [
            "I ordered a {product} but received something completely different. Order {order}.",
            "Order {order} came today and it's the wrong model of {product}.",
        ],
        [
            "Apologies for the mix-up, {name}. I've sent a prepaid label so you can return the "
            "wrong item, and the correct {product} is already reserved for you.",
            "That's our packing mistake, {name}. Keep the item you received; we'll ship the "
            "right {product} for order {order} today with express delivery.",
            "Sorry about that, {name}. Could you send a photo of the label on the box? Once I "
            "confirm it, I'll swap order {order} for the correct {product} at no cost.",
        ],
    ),
    "login": (
        [
            "I can't log in to the app that controls my {product}. It says my password is wrong.",
            "The {product} app keeps logging me out and now my account is locked.",
        ],
        [
            "Accounts lock after five failed attempts, {name}. I've unlocked yours; please use "
            "'Forgot password' on the sign-in screen to set a new one.",
            "Let's fix that, {name}. Please update the app to the latest version, clear its "
            "cache, and sign in again. I've also reset your session so old devices are logged "
            "out.",
            "I've sent a one-time sign-in link to the email on your account, {name}. It's valid "
            "for fifteen minutes; after that you can set a new password from your profile.",
        ],
    ),
    "double_charge": (
        [
            "I was charged twice for the same {product}. Order {order}.",
            "My bank statement shows two payments for order {order}. I only bought one {product}.",
        ],
        [
            "You're right, {name}: the payment went through twice because of a timeout. I've "
            "refunded the duplicate charge; it will disappear from your statement in a few days.",
            "One of those is only a pending authorisation, {name}, and it will drop off on its "
            "own within 72 hours. Only one payment was captured for order {order}.",
            "Sorry about that, {name}. I've flagged order {order} with our payments team and "
            "reversed the second charge. You'll receive a confirmation email shortly.",
        ],
    ),
    "cancel": (
        [
            "Please cancel my refill subscription for the {product}.",
            "How do I stop the monthly deliveries of {product} accessories?",
        ],
        [
            "Done, {name}. Your subscription is cancelled and you won't be charged again. Any "
            "order already shipped will still arrive.",
            "You can cancel any time under Account > Subscriptions, {name}. I've cancelled it for "
            "you now, effective from the next billing date.",
            "I've paused rather than cancelled it, {name}, in case you want it back later. Say "
            "the word and I'll cancel it permanently.",
        ],
    ),
    "warranty": (
        [
            "My {product} stopped working after eight months. Is it still under warranty?",
            "The {product} I bought last year makes a grinding noise now. Can I get it repaired?",
        ],
        [
            "Yes, {name}: the {product} has a two-year warranty. Fill in the repair form on our "
            "website and we'll email you a free shipping label.",
            "It's covered, {name}. Please send the serial number from the bottom of the "
            "{product} and I'll book a repair or a replacement, whichever is faster.",
            "Good news, {name}: that fault is covered. The nearest authorised repair centre can "
            "fix it in about a week, or we can swap the {product} for a new unit.",
        ],
    ),
}

PRODUCTS_FR = [
    "casque audio",
    "moulin à café",
    "bureau assis-debout",
    "thermostat connecté",
    "sac de randonnée",
    "bouilloire électrique",
    "aspirateur robot",
    "clavier mécanique",
    "purificateur d'air",
    "liseuse",
    "fauteuil de bureau",
    "mixeur",
]
SUPPORT_FR = {
    "damaged": (
        [
            "Mon {product} est arrivé cassé, le boîtier est fendu. Commande {order}.",
            "Le colis était écrasé et le {product} ne fonctionne pas. Que faire ? "
            "(commande {order})",
        ],
        [
            "Je suis désolé, {name}. Envoyez-nous une photo du {product} et du colis, et nous "
            "expédierons un remplacement gratuit pour la commande {order}.",
            "Merci de nous avoir prévenus, {name}. Une étiquette de retour prépayée vous a été "
            "envoyée par e-mail et le nouveau {product} part sous deux jours ouvrés.",
        ],
    ),
    "late": (
        [
            "J'ai commandé un {product} il y a dix jours (commande {order}) et je n'ai rien reçu.",
            "Où est mon {product} ? Le suivi de la commande {order} ne bouge plus depuis lundi.",
        ],
        [
            "J'ai vérifié la commande {order}, {name} : le transporteur l'a scannée hier, elle "
            "devrait arriver d'ici deux jours.",
            "Désolé pour l'attente, {name}. J'ai ouvert une enquête auprès du transporteur ; si "
            "le colis ne bouge pas d'ici vendredi, nous renverrons un {product} en express.",
        ],
    ),
    "refund": (
        [
            "J'ai renvoyé le {product} il y a deux semaines et je n'ai toujours pas été remboursé.",
            "Combien de temps faut-il pour un remboursement ? J'ai retourné mon {product} la "
            "semaine dernière.",
        ],
        [
            "Nous avons reçu votre retour le 4, {name}, et le remboursement a été émis le jour "
            "même. Comptez trois à cinq jours ouvrés selon votre banque.",
            "Le {product} a bien été réceptionné à l'entrepôt, {name}. Le remboursement de la "
            "commande {order} est validé et apparaîtra sous une semaine.",
        ],
    ),
    "cancel": (
        [
            "Merci d'annuler mon abonnement de recharges pour le {product}.",
            "Comment arrêter les livraisons mensuelles d'accessoires pour mon {product} ?",
        ],
        [
            "C'est fait, {name} : votre abonnement est annulé et vous ne serez plus prélevé.",
            "Vous pouvez annuler à tout moment dans Compte > Abonnements, {name}. Je l'ai annulé "
            "pour vous, à compter de la prochaine échéance.",
        ],
    ),
    "warranty": (
        [
            "Mon {product} ne marche plus après huit mois. Est-il encore sous garantie ?",
            "Le {product} acheté l'an dernier fait un bruit bizarre. Peut-il être réparé ?",
        ],
        [
            "Oui, {name} : le {product} est garanti deux ans. Remplissez le formulaire de "
            "réparation sur notre site et nous vous enverrons une étiquette gratuite.",
            "C'est couvert, {name}. Envoyez-moi le numéro de série du {product} et je lance une "
            "réparation ou un échange, selon ce qui est le plus rapide.",
        ],
    ),
}

PRODUCTS_ES = [
    "auriculares",
    "molinillo de café",
    "hervidor eléctrico",
    "robot aspirador",
    "teclado mecánico",
    "purificador de aire",
]
SUPPORT_ES = {
    "damaged": (
        ["Mis {product} llegaron rotos y no encienden. Pedido {order}."],
        [
            "Lo siento mucho, {name}. Envíanos una foto del producto y de la caja y te "
            "mandaremos un reemplazo gratis del pedido {order}.",
            "Gracias por avisarnos, {name}. Ya tienes en tu correo una etiqueta de devolución "
            "prepagada y el reemplazo sale en dos días hábiles.",
        ],
    ),
    "late": (
        ["Pedí unos {product} hace diez días (pedido {order}) y todavía no han llegado."],
        [
            "He revisado el pedido {order}, {name}: la empresa de transporte lo escaneó ayer y "
            "debería llegar en dos días.",
            "Perdona la espera, {name}. He abierto una reclamación con el transportista; si no "
            "se mueve antes del viernes, te enviamos otro por envío urgente.",
        ],
    ),
    "refund": (
        ["Devolví el {product} hace dos semanas y aún no veo el reembolso."],
        [
            "Recibimos tu devolución el día 4, {name}, y el reembolso se emitió ese mismo día. "
            "El banco suele tardar de tres a cinco días hábiles.",
            "El {product} ya está en nuestro almacén, {name}. El reembolso del pedido {order} "
            "está aprobado y lo verás en tu tarjeta en una semana.",
        ],
    ),
    "warranty": (
        ["Mi {product} dejó de funcionar a los ocho meses. ¿Sigue en garantía?"],
        [
            "Sí, {name}: tiene dos años de garantía. Rellena el formulario de reparación en "
            "nuestra web y te enviaremos una etiqueta de envío gratuita.",
            "Está cubierto, {name}. Mándame el número de serie y organizo la reparación o el "
            "cambio, lo que sea más rápido.",
        ],
    ),
}

USER_OPENERS_EN = ["Hi,", "Hello,", "Hey there,", "Good morning,", ""]
USER_CLOSERS_EN = ["Thanks, {name}", "Regards, {name}", "- {name}", ""]
AGENT_CLOSERS_EN = [
    "Is there anything else I can help with?",
    "Let me know if you have any other questions.",
    "Have a great day!",
    "",
]

# -- summaries -----------------------------------------------------------------------------

SUMMARY_PROMPTS_EN = [
    "Summarize the following in one sentence:\n\n{text}",
    "TL;DR this for me:\n{text}",
    "Give me a one-line summary of this text.\n\n{text}",
    "Can you sum this up briefly?\n\n{text}",
]
SUMMARY_PROMPTS_FR = [
    "Résume ce texte en une phrase :\n\n{text}",
    "Fais-moi un résumé très court de ce passage.\n\n{text}",
]

SUMMARIES_EN = [
    (
        "The city council voted on Tuesday to convert three downtown parking lots into small "
        "parks. Supporters argued that the area lacks green space and that the lots are half "
        "empty on weekdays. Shop owners worried about losing customers who drive in. The plan "
        "includes a new bus line to compensate, and construction is expected to start in spring.",
        "The council approved turning three downtown parking lots into parks, with a new bus "
        "line to offset lost parking.",
    ),
    (
        "Researchers tracked 2,000 office workers for a year and found that those who took a "
        "short walk after lunch reported better afternoon focus than those who stayed at their "
        "desks. The effect was small but consistent, and it held regardless of age or job type. "
        "The authors caution that the study relied on self-reported focus.",
        "A year-long study links short post-lunch walks to slightly better afternoon focus, "
        "though focus was self-reported.",
    ),
    (
        "Our quarterly revenue grew 12 percent, driven mainly by the new subscription tier. "
        "Hardware sales were flat, and shipping costs rose because of higher fuel prices. The "
        "team plans to renegotiate carrier contracts and to launch the subscription in two new "
        "countries next quarter.",
        "Revenue rose 12% on subscriptions while hardware was flat; the company will cut "
        "shipping costs and expand the subscription abroad.",
    ),
    (
        "The museum will close its east wing for six months to replace the roof, which has "
        "leaked during heavy rain for several winters. The most fragile paintings have already "
        "been moved to storage, and a selection of them will be shown in a temporary gallery "
        "on the ground floor.",
        "The museum's east wing closes for six months for roof repairs, with some paintings "
        "shown in a temporary gallery.",
    ),
    (
        "A local bakery started selling yesterday's bread at half price in the evening instead "
        "of throwing it away. Within a month, food waste dropped by two thirds and the evening "
        "sales attracted new customers, many of them students. The owner now plans to donate "
        "what remains to a shelter.",
        "A bakery cut its food waste by two thirds by selling day-old bread at half price in "
        "the evening.",
    ),
    (
        "The software update fixes a bug that drained phone batteries when the app ran in the "
        "background. It also adds a dark mode and lets users export their notes as PDF files. "
        "The update rolls out gradually over the next week, starting with users in Europe.",
        "The update fixes a background battery drain, adds dark mode and PDF export, and rolls "
        "out over a week.",
    ),
    (
        "Farmers in the valley are switching from maize to sorghum because the summers have "
        "become drier. Sorghum needs about a third less water and tolerates heat better, but "
        "it sells for less and local mills are not yet equipped to process it. A cooperative "
        "is raising money to buy a shared mill.",
        "Valley farmers are moving to drought-tolerant sorghum, but low prices and a lack of "
        "mills hold them back.",
    ),
    (
        "The library's new policy removes late fees for children's books. Staff noticed that "
        "fines kept families from coming back, while the money collected barely covered the "
        "cost of processing it. Since the change, children's borrowing has risen by a fifth.",
        "Dropping late fees on children's books raised children's borrowing by a fifth at "
        "little cost to the library.",
    ),
    (
        "Engineers replaced the bridge's steel cables after inspectors found corrosion inside "
        "the protective sheathing. Traffic was limited to one lane for eight weeks. The new "
        "cables have sensors that report strain and moisture, so problems can be spotted "
        "before they become visible.",
        "The bridge got new sensor-equipped cables after hidden corrosion was found, with "
        "eight weeks of lane closures.",
    ),
    (
        "Volunteers counted birds in the wetland for the tenth year in a row. They recorded "
        "more herons and fewer ducks than a decade ago, which they link to the restored reed "
        "beds and to warmer winters. The data will be shared with the national bird survey.",
        "A ten-year bird count shows more herons and fewer ducks in the wetland, linked to "
        "habitat restoration and warmer winters.",
    ),
    (
        "The startup announced it would move to a four-day work week for a six-month trial. "
        "Salaries stay the same, and teams must agree on which day they take off so that "
        "customers are always covered. The founders will compare productivity and staff "
        "turnover with last year.",
        "A startup is trialling a four-day week at full pay for six months and will measure "
        "productivity and turnover.",
    ),
    (
        "Heavy snow closed the mountain pass for three days, stranding dozens of trucks. "
        "Emergency crews brought food and fuel to the drivers, and a temporary shelter opened "
        "in the village school. The pass reopened on Sunday after plows cleared a single lane.",
        "Snow closed the mountain pass for three days, stranding truckers until a lane was "
        "cleared on Sunday.",
    ),
    (
        "The hospital introduced a text-message reminder the day before appointments. Missed "
        "appointments fell from 14 percent to 8 percent within three months, freeing hundreds "
        "of slots. Patients can reply to the message to cancel, which lets staff offer the "
        "slot to someone else.",
        "Text reminders cut missed hospital appointments from 14% to 8% and let freed slots "
        "be reassigned.",
    ),
    (
        "A study of 40 rivers found microplastics in every sample, with the highest levels "
        "downstream of wastewater plants. Most particles were fibres from synthetic clothing. "
        "The authors recommend filters on washing machines and upgrades to treatment plants.",
        "Microplastics, mostly clothing fibres, were found in all 40 rivers studied, peaking "
        "below wastewater plants.",
    ),
    (
        "The school replaced its vending machines with a fruit stand run by students. Sales "
        "were slow at first, but after the students added smoothies and let classmates vote on "
        "the menu, the stand began to turn a small profit that now funds a school trip.",
        "A student-run fruit stand replaced vending machines and became profitable after "
        "adding smoothies and a menu vote.",
    ),
    (
        "Our team missed the release date because the payment provider changed its API two "
        "weeks before launch. We have rewritten the integration and added tests against their "
        "sandbox. The new target date is the 18th, and we will send a status update every "
        "Friday until then.",
        "The release slipped because of a payment API change; the integration is rewritten "
        "and the new date is the 18th.",
    ),
    (
        "Archaeologists digging before the construction of a parking garage uncovered the "
        "foundations of a Roman bathhouse. The builders agreed to redesign the garage so the "
        "remains can be preserved under a glass floor and visited by the public.",
        "Roman bathhouse ruins found on a garage site will be preserved under a glass floor "
        "open to the public.",
    ),
    (
        "The airline will stop charging for the first checked bag on domestic flights from "
        "June. Analysts say the move is meant to win back travellers from a low-cost rival, "
        "and they expect ticket prices to rise slightly to cover the lost fees.",
        "The airline drops first-bag fees on domestic flights from June, likely nudging fares "
        "up to compete with a rival.",
    ),
    (
        "After complaints about noise, the concert venue installed sound panels and moved the "
        "stage to the opposite side of the hall. Measurements outside the building now show "
        "levels below the city limit, and neighbours have withdrawn their petition.",
        "The venue fixed its noise problem with sound panels and a moved stage, ending "
        "neighbours' complaints.",
    ),
    (
        "A new law requires landlords to register short-term rentals and limits them to 90 "
        "nights a year. The city hopes this will return apartments to the long-term market. "
        "Hosts who break the rule face fines of up to 10,000 euros.",
        "A new law caps registered short-term rentals at 90 nights a year, with fines up to "
        "10,000 euros.",
    ),
    (
        "The cycling club mapped every pothole on its regular routes using a phone app and "
        "sent the list to the road department. Within two months, more than half were "
        "repaired, and the department now asks other clubs to share similar data.",
        "A cycling club's pothole map led to over half being repaired, and the city wants "
        "more clubs to contribute.",
    ),
    (
        "The company's internal survey shows that most employees want more flexible hours but "
        "fewer meetings. Managers have agreed to keep Wednesday afternoons meeting-free and to "
        "cap recurring meetings at thirty minutes.",
        "Employees asked for flexibility and fewer meetings, so managers set meeting-free "
        "Wednesday afternoons and 30-minute caps.",
    ),
    (
        "Scientists released 500 captive-bred tortoises on the island where the species had "
        "nearly vanished because of goats eating its food plants. The goats were removed five "
        "years ago, and the vegetation has since recovered enough to support the animals.",
        "After goats were removed and plants recovered, 500 captive-bred tortoises were "
        "released on their native island.",
    ),
    (
        "The train operator will add a late-night service on Fridays and Saturdays for a "
        "one-year trial. Bars and theatres supported the idea, saying staff struggle to get "
        "home after closing time. The trial will be judged on passenger numbers.",
        "A one-year trial adds late-night weekend trains, backed by bars and theatres, and "
        "will be judged on ridership.",
    ),
    (
        "The open-source project moved its discussions from a mailing list to a forum. "
        "Maintainers say newcomers found the list hard to search, and the forum lets them tag "
        "questions and mark answers as solved. The archive of the old list remains online.",
        "The project moved from a mailing list to a searchable forum to help newcomers, "
        "keeping the old archive online.",
    ),
]

SUMMARIES_FR = [
    (
        "La mairie a décidé de piétonniser la rue principale tous les dimanches de l'été. Les "
        "commerçants étaient d'abord inquiets, mais l'essai de l'an dernier a attiré davantage "
        "de promeneurs. Des navettes gratuites relieront les parkings au centre-ville.",
        "La rue principale sera piétonne les dimanches d'été, avec des navettes gratuites "
        "depuis les parkings.",
    ),
    (
        "Une étude menée auprès de mille lycéens montre que ceux qui dorment moins de sept "
        "heures ont de moins bons résultats en mathématiques. Les chercheurs recommandent de "
        "commencer les cours plus tard le matin.",
        "Les lycéens qui dorment moins de sept heures réussissent moins bien en maths ; les "
        "chercheurs proposent des cours plus tardifs.",
    ),
    (
        "La bibliothèque municipale prête désormais des outils de bricolage : perceuses, "
        "scies et niveaux. Le service, gratuit pour les abonnés, a déjà enregistré trois cents "
        "emprunts en un mois.",
        "La bibliothèque prête gratuitement des outils de bricolage, avec trois cents emprunts "
        "le premier mois.",
    ),
    (
        "Après deux étés de sécheresse, la commune installe des cuves pour récupérer l'eau de "
        "pluie des bâtiments publics. Cette eau servira à arroser les parcs et à nettoyer les "
        "rues.",
        "La commune récupère l'eau de pluie des bâtiments publics pour arroser les parcs et "
        "nettoyer les rues.",
    ),
    (
        "L'entreprise a réduit sa consommation d'électricité de vingt pour cent en remplaçant "
        "l'éclairage par des LED et en éteignant les serveurs inutilisés la nuit. Les "
        "économies financeront des panneaux solaires.",
        "LED et extinction nocturne des serveurs ont réduit la consommation de 20 %, ce qui "
        "financera des panneaux solaires.",
    ),
    (
        "Le festival de musique a limité sa jauge à huit mille personnes pour éviter la "
        "foule des années précédentes. Les billets se sont vendus en deux heures et une "
        "retransmission gratuite est prévue sur la place du village.",
        "Le festival a plafonné sa jauge à 8 000 personnes ; complet en deux heures, il sera "
        "retransmis gratuitement.",
    ),
    (
        "Des bénévoles ont replanté deux mille arbres le long de la rivière pour limiter "
        "l'érosion des berges. Les premiers résultats sont encourageants, mais il faudra "
        "plusieurs années pour que les racines stabilisent le sol.",
        "Deux mille arbres ont été replantés le long de la rivière contre l'érosion, avec des "
        "effets attendus sur plusieurs années.",
    ),
    (
        "La ligne de bus 12 passera toutes les dix minutes aux heures de pointe à partir de "
        "septembre. La ville répond ainsi aux plaintes des usagers sur les bus bondés.",
        "Dès septembre, le bus 12 passera toutes les dix minutes aux heures de pointe pour "
        "désengorger la ligne.",
    ),
]

# -- code ----------------------------------------------------------------------------------

CODE_SYSTEM = "You are a senior Python developer. Answer with short, correct code."
CODE = [
    (
        "Write a Python function that checks whether a string is a palindrome, ignoring case "
        "and spaces.",
        '```python\ndef is_palindrome(s: str) -> bool:\n    cleaned = s.replace(" ", "")'
        ".lower()\n    return cleaned == cleaned[::-1]\n```",
    ),
    (
        "How do I read a CSV file into a list of dictionaries in Python?",
        'Use the `csv` module:\n\n```python\nimport csv\n\nwith open("data.csv", newline="", '
        'encoding="utf-8") as f:\n    rows = list(csv.DictReader(f))\n```\n\nEach row is a '
        "dict keyed by the header.",
    ),
    (
        "Write a function that returns the n-th Fibonacci number iteratively.",
        "```python\ndef fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        "
        "a, b = b, a + b\n    return a\n```",
    ),
    (
        "How can I remove duplicates from a list but keep the original order?",
        "```python\ndef unique(items):\n    return list(dict.fromkeys(items))\n```\n\n"
        "Dicts keep insertion order, so the first occurrence of each item wins.",
    ),
    (
        "Write a SQL query that returns the five customers with the highest total order amount.",
        "```sql\nSELECT customer_id, SUM(amount) AS total\nFROM orders\nGROUP BY customer_id\n"
        "ORDER BY total DESC\nLIMIT 5;\n```",
    ),
    (
        "How do I count word frequencies in a text with Python?",
        "```python\nfrom collections import Counter\n\ncounts = Counter(text.lower().split())\n"
        "print(counts.most_common(10))\n```",
    ),
    (
        "Write a bash one-liner that finds all .log files larger than 100 MB.",
        '```bash\nfind / -name "*.log" -size +100M 2>/dev/null\n```',
    ),
    (
        "What's the difference between a list and a tuple in Python?",
        "A list is mutable (you can append, remove or change items); a tuple is immutable. "
        "Tuples are hashable when their items are, so they can be dict keys, and they signal "
        "that the data should not change.",
    ),
    (
        "Write a Python function that flattens a nested list of any depth.",
        "```python\ndef flatten(items):\n    for item in items:\n        if isinstance(item, "
        "list):\n            yield from flatten(item)\n        else:\n            yield item\n"
        "```\n\nUse `list(flatten(data))` to get a list.",
    ),
    (
        "How do I make an HTTP GET request and parse JSON in JavaScript?",
        '```javascript\nconst res = await fetch("https://api.example.com/items");\nif '
        "(!res.ok) throw new Error(`HTTP ${res.status}`);\nconst data = await res.json();\n```",
    ),
    (
        "Write a function that checks if a number is prime.",
        "```python\ndef is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n    i = "
        "2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        "
        "i += 1\n    return True\n```",
    ),
    (
        "How do I merge two dictionaries in Python 3.9+?",
        "Use the union operator: `merged = a | b`. Keys from `b` win on conflicts. To update "
        "`a` in place, write `a |= b`.",
    ),
    (
        "Write a Python class for a simple stack with push, pop and peek.",
        "```python\nclass Stack:\n    def __init__(self):\n        self._items = []\n\n    def "
        "push(self, item):\n        self._items.append(item)\n\n    def pop(self):\n        "
        "return self._items.pop()\n\n    def peek(self):\n        return self._items[-1]\n```",
    ),
    (
        "How can I time how long a piece of Python code takes?",
        '```python\nimport time\n\nstart = time.perf_counter()\nrun_job()\nprint(f"took '
        '{time.perf_counter() - start:.3f} s")\n```\n\nFor micro-benchmarks, prefer the '
        "`timeit` module.",
    ),
    (
        "Write a regular expression that matches a simple email address.",
        '```python\nimport re\n\nEMAIL = re.compile(r"^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$")\n```\n\n'
        "It accepts common addresses; full RFC 5322 validation is far more complex.",
    ),
    (
        "How do I reverse a linked list in Python?",
        "```python\ndef reverse(head):\n    prev = None\n    while head:\n        head.next, "
        "prev, head = prev, head, head.next\n    return prev\n```",
    ),
    (
        "Write a Python function that chunks a list into pieces of size n.",
        "```python\ndef chunks(items, n):\n    return [items[i:i + n] for i in range(0, "
        "len(items), n)]\n```",
    ),
    (
        "Explain what a Python decorator is with a tiny example.",
        "A decorator wraps a function to add behaviour without changing its code.\n\n```python"
        "\ndef shout(fn):\n    def wrapper(*args):\n        return fn(*args).upper()\n    return "
        'wrapper\n\n@shout\ndef greet(name):\n    return f"hi {name}"\n```',
    ),
    (
        "How do I list the files in a directory recursively with pathlib?",
        '```python\nfrom pathlib import Path\n\nfor path in Path("src").rglob("*"):\n    if '
        "path.is_file():\n        print(path)\n```",
    ),
    (
        "Write a git command to undo the last commit but keep the changes.",
        "`git reset --soft HEAD~1` moves the branch back one commit and leaves the changes "
        "staged. Use `--mixed` instead to leave them unstaged.",
    ),
    (
        "Write a function that converts Celsius to Fahrenheit.",
        "```python\ndef c_to_f(celsius: float) -> float:\n    return celsius * 9 / 5 + 32\n```",
    ),
    (
        "How do I sort a list of dictionaries by a key in Python?",
        '```python\npeople.sort(key=lambda p: p["age"])\n```\n\nUse `sorted(...)` for a new '
        "list, and `reverse=True` for descending order.",
    ),
    (
        "Write a Python generator that yields the lines of a large file without loading it all.",
        '```python\ndef lines(path):\n    with open(path, encoding="utf-8") as f:\n        for '
        'line in f:\n            yield line.rstrip("\\n")\n```',
    ),
    (
        'What does `if __name__ == "__main__":` do?',
        "It runs the block only when the file is executed as a script, not when it is "
        "imported as a module, so a file can be both importable and runnable.",
    ),
    (
        "Write a SQL query that finds duplicate email addresses in a users table.",
        "```sql\nSELECT email, COUNT(*) AS n\nFROM users\nGROUP BY email\nHAVING COUNT(*) > 1;\n"
        "```",
    ),
    (
        "How do I handle a missing key in a Python dict without an exception?",
        'Use `d.get("key", default)`, or `collections.defaultdict` when you want missing keys '
        "to be created automatically.",
    ),
    (
        "Write a JavaScript function that debounces another function.",
        "```javascript\nfunction debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n    "
        "clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}\n```",
    ),
    (
        "How do I create and activate a virtual environment in Python?",
        "```bash\npython3 -m venv .venv\nsource .venv/bin/activate\n```\n\nOn Windows, run "
        "`.venv\\Scripts\\activate` instead.",
    ),
    (
        "Écris une fonction Python qui compte les voyelles d'une chaîne.",
        "```python\ndef compter_voyelles(texte: str) -> int:\n    return sum(1 for c in "
        'texte.lower() if c in "aeiouyàâéèêëîïôùûü")\n```',
    ),
    (
        "Comment lire un fichier JSON en Python ?",
        'Avec le module `json` :\n\n```python\nimport json\n\nwith open("config.json", '
        'encoding="utf-8") as f:\n    config = json.load(f)\n```',
    ),
]

# -- translation ---------------------------------------------------------------------------

TRANSLATION_PROMPTS = {
    "French": ["Translate into French: {s}", 'How would you say this in French? "{s}"'],
    "Spanish": ["Translate into Spanish: {s}", 'Can you put this in Spanish? "{s}"'],
    "German": ["Translate into German: {s}"],
    "English": ["Traduis en anglais : {s}", "Peux-tu traduire ceci en anglais ? « {s} »"],
}
TRANSLATIONS = [
    (
        "French",
        "The meeting has been moved to Thursday afternoon.",
        "La réunion a été déplacée à jeudi après-midi.",
    ),
    (
        "French",
        "Please keep your receipt in case you need to return the item.",
        "Veuillez conserver votre ticket de caisse au cas où vous devriez retourner l'article.",
    ),
    ("French", "The museum is closed on Mondays.", "Le musée est fermé le lundi."),
    (
        "French",
        "Could you send me the report by the end of the day?",
        "Pourriez-vous m'envoyer le rapport d'ici la fin de la journée ?",
    ),
    (
        "French",
        "We are looking for a developer with experience in Python.",
        "Nous recherchons un développeur ayant de l'expérience en Python.",
    ),
    (
        "French",
        "The train was delayed because of the snow.",
        "Le train a été retardé à cause de la neige.",
    ),
    (
        "French",
        "I would like to book a table for four people tonight.",
        "Je voudrais réserver une table pour quatre personnes ce soir.",
    ),
    (
        "French",
        "Don't forget to water the plants while I'm away.",
        "N'oublie pas d'arroser les plantes pendant mon absence.",
    ),
    (
        "French",
        "The new version of the app is much faster.",
        "La nouvelle version de l'application est beaucoup plus rapide.",
    ),
    (
        "French",
        "My sister lives near the sea and works as a nurse.",
        "Ma sœur habite près de la mer et travaille comme infirmière.",
    ),
    (
        "French",
        "How long does it take to get to the airport by bus?",
        "Combien de temps faut-il pour aller à l'aéroport en bus ?",
    ),
    (
        "French",
        "The password must contain at least twelve characters.",
        "Le mot de passe doit contenir au moins douze caractères.",
    ),
    ("Spanish", "Where is the nearest pharmacy?", "¿Dónde está la farmacia más cercana?"),
    (
        "Spanish",
        "The store opens at nine in the morning.",
        "La tienda abre a las nueve de la mañana.",
    ),
    (
        "Spanish",
        "We need to finish the project before Friday.",
        "Tenemos que terminar el proyecto antes del viernes.",
    ),
    (
        "Spanish",
        "I have been learning to play the guitar for two years.",
        "Llevo dos años aprendiendo a tocar la guitarra.",
    ),
    (
        "Spanish",
        "The hotel room had a beautiful view of the mountains.",
        "La habitación del hotel tenía una vista preciosa de las montañas.",
    ),
    (
        "Spanish",
        "Your order will arrive in three to five business days.",
        "Tu pedido llegará en un plazo de tres a cinco días hábiles.",
    ),
    (
        "Spanish",
        "Can you recommend a good book for the summer?",
        "¿Me puedes recomendar un buen libro para el verano?",
    ),
    ("Spanish", "It is going to rain all weekend.", "Va a llover todo el fin de semana."),
    (
        "Spanish",
        "Please turn off the lights when you leave the office.",
        "Por favor, apaga las luces cuando salgas de la oficina.",
    ),
    (
        "Spanish",
        "The doctor said I should drink more water.",
        "El médico dijo que debería beber más agua.",
    ),
    (
        "German",
        "The library is open until eight in the evening.",
        "Die Bibliothek ist bis acht Uhr abends geöffnet.",
    ),
    (
        "German",
        "I forgot my umbrella at the restaurant.",
        "Ich habe meinen Regenschirm im Restaurant vergessen.",
    ),
    (
        "German",
        "We are planning a trip to the mountains in July.",
        "Wir planen im Juli eine Reise in die Berge.",
    ),
    (
        "German",
        "The invoice is attached to this email.",
        "Die Rechnung ist dieser E-Mail beigefügt.",
    ),
    (
        "German",
        "Could you speak a little more slowly, please?",
        "Könnten Sie bitte etwas langsamer sprechen?",
    ),
    ("German", "The children are playing in the garden.", "Die Kinder spielen im Garten."),
    (
        "English",
        "Le magasin sera fermé pendant les vacances de Noël.",
        "The shop will be closed during the Christmas holidays.",
    ),
    (
        "English",
        "J'ai perdu mes clés quelque part dans le parc.",
        "I lost my keys somewhere in the park.",
    ),
    (
        "English",
        "Le rendez-vous chez le dentiste est reporté à la semaine prochaine.",
        "The dentist appointment has been postponed to next week.",
    ),
    (
        "English",
        "Nous avons besoin de deux chambres pour trois nuits.",
        "We need two rooms for three nights.",
    ),
    (
        "English",
        "Le colis a été livré chez le voisin.",
        "The parcel was delivered to the neighbour's house.",
    ),
    ("English", "Il fait trop chaud pour courir à midi.", "It's too hot to go running at noon."),
    (
        "English",
        "Merci de confirmer votre présence avant vendredi.",
        "Please confirm your attendance before Friday.",
    ),
    (
        "English",
        "La conférence commence à neuf heures précises.",
        "The conference starts at nine o'clock sharp.",
    ),
]

# -- JSON extraction (compositional) -------------------------------------------------------

EXTRACT_SYSTEM = (
    "Extract the requested fields and answer with JSON only. Use null for anything missing."
)
EXTRACT_PEOPLE = [
    "Maria Lopez",
    "James Carter",
    "Yuki Tanaka",
    "Olivier Martin",
    "Grace Okafor",
    "Henrik Larsen",
    "Sara Rossi",
    "David Cohen",
    "Amira Haddad",
    "Liam Walsh",
    "Ingrid Berg",
    "Carlos Mendes",
    "Hannah Schulz",
    "Arjun Mehta",
    "Zoe Campbell",
    "Pierre Dubois",
    "Lina Nguyen",
    "Tomasz Nowak",
    "Emma Johansson",
    "Kwame Mensah",
]
EXTRACT_COMPANIES = [
    "Acme Tools",
    "Northwind Foods",
    "Bluepeak Energy",
    "Lumen Labs",
    "Harbor Logistics",
    "Verde Gardens",
    "Quartz Analytics",
    "Pinecrest Media",
    "Solano Textiles",
    "Orbit Robotics",
]
EXTRACT_CITIES = [
    "Lyon",
    "Denver",
    "Osaka",
    "Lisbon",
    "Nairobi",
    "Toronto",
    "Krakow",
    "Melbourne",
    "Seville",
    "Hamburg",
    "Austin",
    "Dublin",
]
EXTRACT_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
# Each template says which fields it mentions; the rest are null in the answer.
EXTRACT_TEMPLATES = [
    (
        "{person} from {company} signed the contract in {city} on {day} {month} {year}, "
        "for a total of ${amount}.",
        ("person", "company", "city", "date", "amount"),
    ),
    (
        "Invoice sent to {company} ({city}) on {day} {month} {year}. Amount due: ${amount}.",
        ("company", "city", "date", "amount"),
    ),
    (
        "Please schedule a call with {person} of {company} next week; they are based in {city}.",
        ("person", "company", "city"),
    ),
    (
        "On {day} {month} {year}, {person} paid ${amount} for the workshop.",
        ("person", "date", "amount"),
    ),
    (
        "New lead: {person}, procurement manager at {company}. Budget around ${amount}.",
        ("person", "company", "amount"),
    ),
    (
        "The {city} office of {company} will host the training on {day} {month} {year}.",
        ("company", "city", "date"),
    ),
    ("Refund of ${amount} approved for {person} ({city}).", ("person", "city", "amount")),
    (
        "{company} opened a warehouse in {city} in {month} {year}, led by {person}.",
        ("person", "company", "city", "month_year"),
    ),
]
EXTRACT_ASKS = [
    "Extract person, company, city, date and amount from this text:\n{text}",
    "Return the person, company, city, date and amount as JSON.\n\n{text}",
    "Pull the key fields (person, company, city, date, amount) out of this note: {text}",
]

# -- general questions ---------------------------------------------------------------------

QA_EN = [
    (
        "Why is the sky blue?",
        "Sunlight scatters off the molecules in the air, and short blue wavelengths scatter much "
        "more than red ones. That scattered blue light reaches your eyes from every direction, "
        "so the whole sky looks blue.",
    ),
    (
        "How many minutes should I boil an egg for a runny yolk?",
        "About six minutes in already boiling water, then put it in cold water for a minute to "
        "stop the cooking.",
    ),
    (
        "What is the difference between weather and climate?",
        "Weather is what the atmosphere does on a given day; climate is the average pattern of "
        "weather over decades in a region.",
    ),
    (
        "What causes the seasons on Earth?",
        "The tilt of Earth's axis. As Earth orbits the Sun, each hemisphere is tilted toward the "
        "Sun for part of the year, getting longer days and more direct light.",
    ),
    (
        "How do vaccines work?",
        "A vaccine shows your immune system a harmless piece or version of a germ, so it learns "
        "to recognise it. If you meet the real germ later, your body fights it off faster.",
    ),
    (
        "What is compound interest?",
        "Interest earned on both your original money and on the interest already added. Over "
        "time this makes savings grow faster than simple interest would.",
    ),
    (
        "Why do cats purr?",
        "Cats purr when content, but also when stressed or hurt; it seems to calm them, and the "
        "low vibration may even help healing.",
    ),
    (
        "What's a good way to start running if I've never done it?",
        "Alternate one minute of easy running with two minutes of walking for 20 minutes, three "
        "times a week, and slowly lengthen the running parts over a few weeks.",
    ),
    (
        "How does a refrigerator keep food cold?",
        "It pumps a refrigerant that absorbs heat as it evaporates inside the fridge and releases "
        "that heat through the coils at the back when it is compressed.",
    ),
    (
        "What is photosynthesis?",
        "The process plants use to turn sunlight, water and carbon dioxide into sugar for "
        "energy, releasing oxygen as a by-product.",
    ),
    (
        "How can I make my phone battery last longer?",
        "Lower the screen brightness, turn off background refresh for apps you rarely use, and "
        "avoid keeping the battery at 100% or near 0% for long periods.",
    ),
    (
        "What is the tallest mountain in the world?",
        "Mount Everest, at about 8,849 metres above sea level.",
    ),
    (
        "Why does bread go stale?",
        "The starch in bread slowly recrystallises and pushes water out, so the crumb becomes "
        "firm and dry, even in a sealed bag.",
    ),
    (
        "What's the difference between a virus and a bacterium?",
        "Bacteria are living single cells that can reproduce on their own; viruses are much "
        "smaller and can only multiply inside a host's cells. Antibiotics work on bacteria, not "
        "viruses.",
    ),
    (
        "How do I write a good cover letter?",
        "Keep it to one page, open with the role you want and why, give two concrete examples of "
        "results that match the job, and close by asking for an interview.",
    ),
    (
        "What is inflation?",
        "A general rise in prices over time, which means the same amount of money buys less "
        "than before.",
    ),
    (
        "Why do we have leap years?",
        "A year is about 365.24 days long, so adding a day every four years keeps the calendar "
        "in step with the seasons.",
    ),
    (
        "How do noise-cancelling headphones work?",
        "Microphones pick up outside sound and the headphones play an inverted copy of it, so "
        "the two waves cancel out before they reach your ear.",
    ),
    (
        "What is a good houseplant for a dark room?",
        "A snake plant or a ZZ plant: both tolerate low light and need watering only every few "
        "weeks.",
    ),
    (
        "How long should I rest between strength training sessions?",
        "Give each muscle group about 48 hours to recover before training it hard again.",
    ),
    (
        "What does a VPN do?",
        "It encrypts your internet traffic and sends it through a server elsewhere, hiding it "
        "from your local network and changing the address websites see.",
    ),
    (
        "Why is the ocean salty?",
        "Rain slowly dissolves minerals from rocks, rivers carry them to the sea, and when sea "
        "water evaporates the salt stays behind.",
    ),
    ("What is the capital of Canada?", "Ottawa."),
    (
        "How do I remove a coffee stain from a shirt?",
        "Rinse it from the back with cold water as soon as possible, rub in a little liquid "
        "detergent, leave it for ten minutes, then wash as usual.",
    ),
    (
        "What is machine learning?",
        "A way of building software that learns patterns from examples instead of following "
        "hand-written rules, for instance to recognise spam from thousands of labelled emails.",
    ),
    ("How many hours of sleep do adults need?", "Most adults need seven to nine hours a night."),
    (
        "What is the Pythagorean theorem?",
        "In a right triangle, the square of the hypotenuse equals the sum of the squares of the "
        "other two sides: a² + b² = c².",
    ),
    (
        "Why do onions make you cry?",
        "Cutting an onion releases a gas that reacts with the water in your eyes to form a mild "
        "irritant, so your eyes produce tears to wash it away.",
    ),
    (
        "What's the best way to learn a new language?",
        "Practise a little every day, speak from the start even with mistakes, and spend time "
        "with real content such as podcasts or series in that language.",
    ),
    ("What is the speed of light?", "About 299,792 kilometres per second in a vacuum."),
    (
        "How do solar panels make electricity?",
        "Sunlight knocks electrons loose in layers of silicon, and the built-in electric field "
        "of the cell pushes them into a current that flows through the wires.",
    ),
    (
        "What is the difference between RAM and storage?",
        "RAM is fast, temporary memory for what the computer is working on right now; storage, "
        "like an SSD, keeps files and programs even when the power is off.",
    ),
    (
        "Why do we get hiccups?",
        "The diaphragm suddenly contracts and the vocal cords snap shut, making the 'hic' sound. "
        "Eating too fast, fizzy drinks or excitement can trigger it.",
    ),
    (
        "How often should I replace my toothbrush?",
        "Every three to four months, or sooner if the bristles are frayed or you have been ill.",
    ),
    (
        "What is a mortgage?",
        "A loan used to buy property, where the property itself serves as security: if the loan "
        "is not repaid, the lender can take it.",
    ),
    (
        "Why does ice float on water?",
        "When water freezes, its molecules lock into an open crystal pattern that takes up more "
        "space, so ice is less dense than liquid water.",
    ),
    (
        "What is a good way to remember names?",
        "Repeat the name when you're introduced, link it to something about the person, and use "
        "it once more before the conversation ends.",
    ),
    (
        "How does GPS know where I am?",
        "Your receiver measures how long signals take to arrive from at least four satellites and "
        "works out the one position that matches all those distances.",
    ),
    (
        "What is the difference between baking soda and baking powder?",
        "Baking soda needs an acid in the recipe, such as yoghurt or lemon, to make it rise; "
        "baking powder already contains its own acid.",
    ),
    (
        "Why do airplanes leave white trails in the sky?",
        "Hot, humid engine exhaust meets very cold air at altitude, and the water vapour freezes "
        "into ice crystals that form contrails.",
    ),
]
QA_FR = [
    (
        "Pourquoi les feuilles changent-elles de couleur en automne ?",
        "Les arbres arrêtent de produire de la chlorophylle, le pigment vert. Les pigments "
        "jaunes et orange, déjà présents, deviennent alors visibles.",
    ),
    (
        "Comment faire une pâte à crêpes ?",
        "Mélangez 250 g de farine, 4 œufs, 50 cl de lait et une pincée de sel, ajoutez un peu de "
        "beurre fondu, puis laissez reposer une heure.",
    ),
    (
        "Quelle est la différence entre un prêt à taux fixe et à taux variable ?",
        "Avec un taux fixe, les mensualités restent identiques pendant tout le prêt ; avec un "
        "taux variable, elles suivent l'évolution d'un indice et peuvent monter ou baisser.",
    ),
    (
        "Combien de temps faut-il pour digérer un repas ?",
        "Environ deux à quatre heures dans l'estomac, puis plusieurs heures dans l'intestin.",
    ),
    (
        "Pourquoi la mer monte-t-elle et descend-elle ?",
        "Les marées viennent surtout de l'attraction de la Lune, et un peu de celle du Soleil, "
        "qui déforment la surface des océans.",
    ),
    (
        "Comment économiser de l'énergie en hiver ?",
        "Baissez le chauffage d'un degré, fermez les volets la nuit et vérifiez l'isolation des "
        "portes et fenêtres.",
    ),
    (
        "Qu'est-ce qu'une énergie renouvelable ?",
        "Une énergie issue d'une source qui se reconstitue naturellement, comme le soleil, le "
        "vent ou l'eau.",
    ),
    ("Quel est le plus long fleuve de France ?", "La Loire, avec environ 1 000 km."),
    (
        "Comment bien préparer un entretien d'embauche ?",
        "Renseignez-vous sur l'entreprise, préparez deux ou trois exemples concrets de vos "
        "réussites et ayez quelques questions à poser au recruteur.",
    ),
    (
        "Pourquoi faut-il s'étirer après le sport ?",
        "Des étirements doux aident à retrouver de la souplesse et à se détendre, même s'ils ne "
        "préviennent pas vraiment les courbatures.",
    ),
]
