package idp

import (
	"html/template"
	"net/http"
	"net/url"
)

// The login form: one radio button per development person, in Swedish and English. No script;
// the page's own CSP allows only its stylesheet.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Logga in (utvecklingsmiljö) / Sign in (development)</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<main>
<h1>Logga in <span lang="en">/ Sign in</span></h1>
<p class="note">Utvecklingsmiljö: välj en påhittad person i stället för e-legitimation.
<span lang="en">Development stand-in: choose a fictional person instead of an e-ID.</span></p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<fieldset>
<legend>Person</legend>
{{range $i, $p := .People}}<div class="person"><input type="radio" id="p{{$i}}" name="person" value="{{$p.Digits}}"{{if eq $i 0}} checked{{end}}>
<label for="p{{$i}}">{{$p.Name}} <span class="pnr">{{$p.Digits}}</span></label></div>
{{end}}</fieldset>
<button type="submit" id="signin">Logga in <span lang="en">/ Sign in</span></button>
<button type="submit" name="cancel" value="1" class="secondary">Avbryt <span lang="en">/ Cancel</span></button>
</form>
</main>
</body>
</html>
`))

const loginCSS = `body{font-family:system-ui,sans-serif;margin:0;background:#fff;color:#1a1a1a;line-height:1.5}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem}.note{background:#fff4ce;padding:.5rem;border-left:4px solid #8a6d00}
.error{color:#a4000f;font-weight:bold}fieldset{border:1px solid #555;padding:.5rem 1rem}
.person{padding:.35rem 0}.pnr{color:#444;font-variant-numeric:tabular-nums}
button{font-size:1.1rem;padding:.6rem 1.2rem;margin:1rem .5rem 0 0;border-radius:4px;border:2px solid #00457c;background:#00457c;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#00457c}
button:focus,input:focus{outline:3px solid #ffbf47;outline-offset:2px}`

type personView struct{ Digits, Name string }

func (s *Server) renderLogin(w http.ResponseWriter, q url.Values, errText string) {
	hidden := map[string]string{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		if v := q.Get(k); v != "" {
			hidden[k] = v
		}
	}
	var people []personView
	for _, d := range s.order {
		p := s.people[d]
		people = append(people, personView{Digits: d, Name: p.Person.GivenName + " " + p.Person.FamilyName})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action *; frame-ancestors 'none'; base-uri 'none'")
	_ = loginPage.Execute(w, map[string]any{"Hidden": hidden, "People": people, "Error": errText})
}

func (s *Server) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(loginCSS))
}
