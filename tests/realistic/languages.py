"""What people write in each language: subjects, sentences, quote lines and reply prefixes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """Phrases of one language and the charsets its mail clients use (weights sum to 1)."""

    code: str
    charsets: tuple[tuple[str, float], ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    subjects: tuple[str, ...]  # format fields: {n} number, {sys} system, {floor}, {name}
    sentences: tuple[str, ...]
    follow_ups: tuple[str, ...]  # what a reply says
    greeting: str
    closing: str
    wrote: str  # the quote header: {date}, {name}
    reply_prefix: str
    forward_prefix: str


SYSTEMS = ("SAP", "Outlook", "the VPN", "SharePoint", "Teams", "the CRM", "Jira", "the intranet", "Citrix",
           "the payroll portal", "Salesforce", "the file share", "Confluence", "the ERP", "DATEV")

EN = Language(
    "en", (("utf-8", 0.55), ("us-ascii", 0.3), ("windows-1252", 0.15)),
    ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
     "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chris", "Karen",
     "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Paul", "Ashley", "Steven",
     "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Carol", "Brian", "Amanda", "Priya", "Wei"),
    ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson",
     "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark",
     "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams",
     "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Patel"),
    ("Printer on floor {floor} shows a paper jam", "Cannot log in to {sys}", "Laptop {n} does not boot",
     "Password reset", "New starter {name} needs an account", "Monitor flickering at desk {n}",
     "Invoice {n} missing in {sys}", "Outlook keeps asking for my password", "VPN drops every few minutes",
     "Request: access to {sys} for the finance team", "Wi-Fi in meeting room {n} is down",
     "Excel crashes when opening report {n}", "Please install {sys} on PC-{n}", "Toner empty on floor {floor}",
     "Shared mailbox {n} not visible", "Phone extension {n} not working", "Error {n} when saving in {sys}",
     "Keyboard and mouse for new desk {n}", "Locked out of my account", "Slow network on floor {floor}",
     "Question about licence renewal {n}", "Cannot print to the plotter in room {n}", "Onboarding for {name}",
     "Quota exceeded on my mailbox", "Screen stays black after docking (asset {n})"),
    ("Since this morning it does not work at all.", "I tried restarting twice, the problem is still there.",
     "Several colleagues in my team see the same error.", "Could you please have a look as soon as possible?",
     "It worked fine until yesterday afternoon.", "The error message says the service is not available.",
     "I attached a screenshot of what I see.", "This is blocking our month-end closing.",
     "I am in the office until 5 pm, you can call me on my extension.", "No rush, but it is quite annoying.",
     "I already cleared the cache and tried another browser.", "The issue started after the last update.",
     "Our customer is waiting for the documents, so it is urgent for us.",
     "Please let me know if you need any further information.", "It happens every time I open the file."),
    ("Thanks, that fixed it.", "Unfortunately it still does not work.", "Any update on this?",
     "I have attached the log file you asked for.", "It works again after the restart, thank you!",
     "The error came back this morning.", "My colleague has the same problem now.",
     "Can we schedule a call tomorrow?", "Please close the ticket, all good now.",
     "I am out next week, please contact my colleague in the meantime."),
    "Hello,", "Kind regards,", "On {date}, {name} wrote:", "Re:", "Fwd:")

DE = Language(
    "de", (("utf-8", 0.5), ("iso-8859-1", 0.3), ("windows-1252", 0.2)),
    ("Jörg", "Dieter", "Anna", "Lukas", "Jürgen", "Sabine", "Björn", "Käthe", "Stefan", "Ute", "Günther",
     "Claudia", "Sönke", "Heike", "Matthias", "Birgit", "Uwe", "Doris"),
    ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Becker", "Schäfer", "Koch", "Bauer", "Hoffmann",
     "Schröder", "Krüger", "Wagner", "Zimmermann", "Braun", "Hofmann", "Groß", "Köhler"),
    ("Drucker im {floor}. Stock druckt nicht", "Kein Zugriff auf {sys}", "Passwort zurücksetzen für {name}",
     "Laptop {n} startet nicht mehr", "Monitor flackert – bitte prüfen (Platz {n})", "Neuer Mitarbeiter {name}",
     "Fehlermeldung {n} beim Speichern in {sys}", "Outlook fragt ständig nach dem Kennwort",
     "VPN bricht alle paar Minuten ab", "WLAN im Besprechungsraum {n} gestört", "Rechnung {n} fehlt in {sys}",
     "Bitte {sys} auf PC-{n} installieren", "Toner leer im {floor}. OG"),
    ("Seit heute früh funktioniert es gar nicht mehr.", "Ich habe den Rechner bereits zweimal neu gestartet.",
     "Mehrere Kollegen haben dasselbe Problem.", "Könnten Sie sich das bitte zeitnah ansehen?",
     "Gestern Nachmittag ging es noch problemlos.", "Die Fehlermeldung sagt, der Dienst sei nicht erreichbar.",
     "Einen Screenshot habe ich angehängt.", "Das blockiert gerade unseren Monatsabschluss.",
     "Ich bin bis 17 Uhr im Büro und telefonisch erreichbar.", "Für eine kurze Rückmeldung wäre ich dankbar."),
    ("Danke, jetzt funktioniert es wieder.", "Leider besteht das Problem weiterhin.", "Gibt es schon etwas Neues?",
     "Anbei die gewünschte Logdatei.", "Der Fehler ist heute Morgen wieder aufgetreten.",
     "Können wir morgen kurz telefonieren?", "Bitte das Ticket schließen, alles erledigt."),
    "Hallo zusammen,", "Mit freundlichen Grüßen", "Am {date} schrieb {name}:", "AW:", "WG:")

FR = Language(
    "fr", (("utf-8", 0.6), ("iso-8859-1", 0.25), ("iso-8859-15", 0.15)),
    ("Élodie", "François", "Hélène", "Jérôme", "Amélie", "Stéphane", "Cécile", "Noël", "Gaëlle", "Benoît"),
    ("Lefèvre", "Dubois", "Moreau", "Girard", "Bérard", "Rousseau", "Fournier", "Mercier", "Lemaître", "Chevalier"),
    ("Problème de connexion VPN", "L'imprimante du {floor}e étage est en panne", "Accès refusé à {sys}",
     "Réinitialisation du mot de passe pour {name}", "Écran noir sur le poste {n}", "Erreur {n} dans {sys}",
     "Demande d'installation de {sys} sur le PC-{n}", "Messagerie très lente depuis ce matin"),
    ("Depuis ce matin, cela ne fonctionne plus du tout.", "J'ai déjà redémarré le poste deux fois.",
     "Plusieurs collègues rencontrent le même problème.", "Pourriez-vous regarder rapidement ?",
     "Le message d'erreur indique que le service est indisponible.", "Vous trouverez une capture d'écran ci-jointe."),
    ("Merci, c'est réglé.", "Malheureusement le problème persiste.", "Avez-vous du nouveau ?",
     "Ci-joint le fichier journal demandé.", "L'erreur est revenue ce matin."),
    "Bonjour,", "Cordialement,", "Le {date}, {name} a écrit :", "RE :", "TR :")

ES = Language(
    "es", (("utf-8", 0.7), ("iso-8859-1", 0.3)),
    ("José", "María", "Ángel", "Lucía", "Íñigo", "Begoña", "Raúl", "Inés", "Sofía", "Martín"),
    ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Núñez"),
    ("No puedo acceder a {sys}", "La impresora de la planta {floor} no imprime", "Restablecer contraseña",
     "El portátil {n} no arranca", "Error {n} al guardar en {sys}", "Solicitud de acceso a {sys}"),
    ("Desde esta mañana no funciona nada.", "Ya he reiniciado el equipo dos veces.",
     "Varios compañeros tienen el mismo problema.", "¿Podrían revisarlo lo antes posible?",
     "Adjunto una captura de pantalla."),
    ("Gracias, ya funciona.", "Lamentablemente el problema continúa.", "¿Hay alguna novedad?",
     "Adjunto el archivo de registro que pidieron."),
    "Hola,", "Saludos cordiales,", "El {date}, {name} escribió:", "RE:", "RV:")

PL = Language(
    "pl", (("utf-8", 0.5), ("iso-8859-2", 0.5)),
    ("Łukasz", "Małgorzata", "Paweł", "Agnieszka", "Michał", "Żaneta", "Grzegorz", "Bożena"),
    ("Kowalski", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zieliński", "Dąbrowska", "Szymański"),
    ("Drukarka na {floor} piętrze nie działa", "Brak dostępu do {sys}", "Reset hasła dla {name}",
     "Laptop {n} nie uruchamia się", "Błąd {n} w {sys}"),
    ("Od rana nic nie działa.", "Dwukrotnie uruchomiłem komputer ponownie.", "Koledzy mają ten sam problem.",
     "Proszę o pilną pomoc.", "W załączniku zrzut ekranu."),
    ("Dziękuję, już działa.", "Niestety problem nadal występuje.", "Czy są jakieś nowe informacje?"),
    "Dzień dobry,", "Pozdrawiam,", "W dniu {date} {name} napisał:", "Odp:", "PD:")

RU = Language(
    "ru", (("utf-8", 0.5), ("koi8-r", 0.3), ("windows-1251", 0.2)),
    ("Ольга", "Дмитрий", "Наталья", "Сергей", "Екатерина", "Алексей", "Ирина", "Андрей"),
    ("Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Новиков"),
    ("Не работает принтер на {floor} этаже", "Нет доступа к {sys}", "Пароль не работает",
     "Ноутбук {n} не включается", "Ошибка {n} в {sys}", "Прошу установить {sys} на ПК-{n}"),
    ("С утра ничего не работает.", "Я уже дважды перезагрузил компьютер.", "У коллег та же проблема.",
     "Посмотрите, пожалуйста, как можно скорее.", "Скриншот во вложении."),
    ("Спасибо, всё работает.", "К сожалению, проблема осталась.", "Есть ли новости?"),
    "Здравствуйте!", "С уважением,", "{date}, {name} пишет:", "Re:", "Fwd:")

JA = Language(
    "ja", (("iso-2022-jp", 0.6), ("utf-8", 0.3), ("shift_jis", 0.1)),
    ("Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina"),
    ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"),
    ("{sys}にログインできません", "メールが届かない", "{floor}階のプリンターが動きません", "パスワードの再設定をお願いします",
     "ノートPC {n} が起動しません"),
    ("今朝から全く使えません。", "再起動を二回試しましたが、直りません。", "同じ部署の人も同じ問題があります。",
     "至急確認していただけますか。", "スクリーンショットを添付します。"),
    ("ありがとうございます、直りました。", "残念ながらまだ直っていません。", "その後いかがでしょうか。"),
    "お疲れ様です。", "よろしくお願いいたします。", "{date} {name} wrote:", "Re:", "転送:")

ZH = Language(
    "zh", (("gb2312", 0.4), ("gbk", 0.2), ("utf-8", 0.4)),
    ("Wei", "Fang", "Jing", "Lei", "Min", "Tao"),
    ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang"),
    ("无法登录{sys}", "{floor}楼打印机无法打印", "请重置密码", "笔记本电脑 {n} 无法启动", "{sys} 报错 {n}"),
    ("从今天早上开始完全无法使用。", "我已经重启了两次电脑。", "同事也遇到了同样的问题。", "请尽快处理，谢谢。",
     "截图见附件。"),
    ("谢谢，已经好了。", "问题还是存在。", "请问有进展吗？"),
    "您好，", "此致", "{date}，{name} 写道：", "回复：", "转发：")

PT = Language(
    "pt", (("utf-8", 0.7), ("iso-8859-1", 0.3)),
    ("João", "Conceição", "Sebastião", "Luísa", "Gonçalo", "Inês"),
    ("Gonçalves", "Conceição", "Araújo", "Simões", "Magalhães", "Brandão"),
    ("Impressora não imprime", "Sem acesso ao {sys}", "Portátil {n} não liga", "Erro {n} no {sys}"),
    ("Desde esta manhã não funciona.", "Já reiniciei o computador duas vezes.", "Podem verificar com urgência?"),
    ("Obrigado, já funciona.", "Infelizmente o problema continua."),
    "Olá,", "Com os melhores cumprimentos,", "Em {date}, {name} escreveu:", "RES:", "ENC:")

# Share of senders per language: an international company's support desk.
LANGUAGES: tuple[tuple[Language, float], ...] = (
    (EN, 0.55), (DE, 0.15), (FR, 0.08), (ES, 0.05), (PL, 0.04), (RU, 0.04), (JA, 0.03), (ZH, 0.03), (PT, 0.03))
