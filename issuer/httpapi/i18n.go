package httpapi

import "strings"

// messages are the web page's texts in Swedish and English.
var messages = map[string][2]string{
	"service":        {"Covidbevis", "COVID certificates"},
	"skip":           {"Hoppa till innehållet", "Skip to content"},
	"language":       {"Språk", "Language"},
	"signin":         {"Logga in med e-legitimation", "Sign in with e-ID"},
	"signout":        {"Logga ut", "Sign out"},
	"footer":         {"Dina intyg är EU:s digitala covidintyg. Visa QR-koden eller skriv ut PDF:en.", "Your certificates are EU Digital COVID Certificates. Show the QR code or print the PDF."},
	"landing.title":  {"Hämta dina covidbevis", "Get your COVID certificates"},
	"landing.intro":  {"Logga in för att se dina intyg om vaccination, test och tillfrisknande, visa QR-koden och ladda ner intyget som PDF.", "Sign in to see your vaccination, test and recovery certificates, show their QR codes and download them as PDF."},
	"list.title":     {"Dina intyg", "Your certificates"},
	"list.signedin":  {"Inloggad som", "Signed in as"},
	"list.empty":     {"Du har inga intyg ännu.", "You have no certificates yet."},
	"issued":         {"Utfärdat", "Issued"},
	"validuntil":     {"Giltigt till", "Valid until"},
	"status":         {"Status", "Status"},
	"status.valid":   {"Giltigt", "Valid"},
	"status.expired": {"Har gått ut", "Expired"},
	"status.revoked": {"Återkallat", "Revoked"},
	"revoked.notice": {"Utfärdaren har återkallat intyget. Det godtas inte när det kontrolleras. Kontakta den som utfärdade det om du behöver ett nytt.",
		"The issuer has withdrawn this certificate. It will be refused when it is checked. Contact the provider who issued it if you need a new one."},
	"environment":       {"Miljö", "Environment"},
	"sandbox":           {"Testmiljö (inte giltigt)", "Test environment (not valid)"},
	"open":              {"Visa intyget och QR-koden", "Show the certificate and QR code"},
	"download":          {"Ladda ner PDF", "Download PDF"},
	"back":              {"Alla intyg", "All certificates"},
	"details":           {"Uppgifter", "Details"},
	"name":              {"Namn", "Name"},
	"birthdate":         {"Födelsedatum", "Date of birth"},
	"uvci":              {"Intygsidentitet (UVCI)", "Certificate identifier (UVCI)"},
	"qr.alt":            {"QR-kod med det signerade intyget, för skanning", "QR code holding the signed certificate, for scanning"},
	"qr.thumb":          {"QR-kod, öppna intyget i full storlek", "QR code, open the certificate at full size"},
	"qr.caption":        {"Visa QR-koden för den som kontrollerar intyget. Öka skärmens ljusstyrka.", "Show the QR code to whoever checks the certificate. Turn up the screen brightness."},
	"kind.test":         {"Testintyg", "Test certificate"},
	"kind.recovery":     {"Intyg om tillfrisknande", "Certificate of recovery"},
	"kind.vaccination":  {"Vaccinationsintyg", "Vaccination certificate"},
	"error.expired":     {"Inloggningen tog för lång tid. Försök igen.", "The sign-in took too long. Try again."},
	"error.state":       {"Inloggningen kunde inte kontrolleras. Försök igen.", "The sign-in could not be checked. Try again."},
	"error.denied":      {"Inloggningen avbröts.", "The sign-in was cancelled."},
	"error.idp":         {"Inloggningstjänsten svarar inte just nu. Försök igen om en stund.", "The sign-in service is not answering right now. Try again shortly."},
	"queue.title":       {"Du står i kö", "You are in the queue"},
	"queue.intro":       {"Många loggar in just nu. Alla släpps in i tur och ordning, så många i sekunden som tjänsten klarar. Sidan uppdateras av sig själv.", "Many people are signing in right now. Everyone is let in in turn, as many a second as the service can serve. This page refreshes itself."},
	"queue.position":    {"Antal före dig", "People ahead of you"},
	"queue.wait":        {"Beräknad väntetid", "Estimated wait"},
	"queue.at":          {"Du släpps in ungefär", "You will be let in at about"},
	"queue.number":      {"Ditt könummer", "Your queue number"},
	"queue.keep":        {"Du behåller din plats om du stänger sidan och kommer tillbaka i samma webbläsare, upp till %d minuter efter din tur.", "You keep your place if you close this page and come back in the same browser, up to %d minutes after your turn."},
	"queue.again":       {"Försök nu", "Try now"},
	"queue.underminute": {"mindre än en minut", "less than a minute"},
	"queue.minutes":     {"ungefär %d minuter", "about %d minutes"},
	"error.token":       {"Inloggningen kunde inte godkännas. Försök igen.", "The sign-in could not be accepted. Try again."},
}

// translate returns the text of key in lang ("sv" or "en"); an unknown key is shown as itself.
func translate(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return m[1]
	}
	return m[0]
}

// acceptLanguage is the first of Swedish and English an Accept-Language header names, in the
// order it lists them; Swedish when it names neither.
func acceptLanguage(header string) string {
	for part := range strings.SplitSeq(header, ",") {
		tag, _, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		switch {
		case strings.HasPrefix(tag, "sv"):
			return "sv"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "sv"
}
