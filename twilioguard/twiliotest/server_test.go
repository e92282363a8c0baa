package twiliotest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.uber.org/goleak"

	"github.com/voxanne/resilience/twilioguard/twiliotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clinic  = "+15005550006"
	patient = "+15551234567"
)

// newAPI returns twilio-go's Messages API pointed at s, as users wire it.
func newAPI(t *testing.T, s *twiliotest.Server, opts ...func(*client.Client)) *openapi.ApiService {
	t.Helper()
	c := &client.Client{
		Credentials: client.NewCredentials(s.AccountSID, s.AuthToken),
		HTTPClient:  s.Client(),
	}
	c.SetAccountSid(s.AccountSID)
	for _, o := range opts {
		o(c)
	}
	return openapi.NewApiService(&client.RequestHandler{Client: c})
}

func newServer(t *testing.T, opts ...twiliotest.Option) *twiliotest.Server {
	t.Helper()
	s := twiliotest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func send(api *openapi.ApiService, from, to, body string) (*openapi.ApiV2010Message, error) {
	p := &openapi.CreateMessageParams{}
	p.SetFrom(from).SetTo(to).SetBody(body)
	return api.CreateMessage(p)
}

func restError(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	return te
}

func TestCreateFetchAndListSpeakTwilioJSON(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	s := newServer(t, twiliotest.WithClock(func() time.Time { return now }))
	api := newAPI(t, s)

	m, err := send(api, clinic, patient, "See you at 10:00")
	require.NoError(t, err)
	assert.Equal(t, "SM00000000000000000000000000000001", *m.Sid)
	assert.Equal(t, "queued", *m.Status)
	assert.Equal(t, clinic, *m.From)
	assert.Equal(t, patient, *m.To)
	assert.Equal(t, "See you at 10:00", *m.Body)
	assert.Equal(t, "Mon, 02 Mar 2026 09:30:00 +0000", *m.DateCreated)
	assert.Nil(t, m.DateSent, "a queued message has no date_sent")
	assert.Nil(t, m.ErrorCode)
	assert.Equal(t, "outbound-api", *m.Direction)
	assert.Equal(t, "1", *m.NumSegments)

	got, err := api.FetchMessage(*m.Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, *m.Sid, *got.Sid)

	_, err = api.FetchMessage("SM0000000000000000000000000000dead", nil)
	te := restError(t, err)
	assert.Equal(t, 20404, te.Code)
	assert.Equal(t, 404, te.Status)

	list, err := api.ListMessage((&openapi.ListMessageParams{}).SetTo(patient))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, *m.Sid, *list[0].Sid)

	assert.Equal(t, []twiliotest.Message{{
		SID: *m.Sid, AccountSID: s.AccountSID, From: clinic, To: patient, Body: "See you at 10:00",
		Status: "queued", DateCreated: now, DateUpdated: now,
	}}, s.Messages())
}

func TestListPagesAsTwilioGoFollowsThem(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	var sids []string
	for i := range 7 {
		m, err := send(api, clinic, patient, "message "+string(rune('a'+i)))
		require.NoError(t, err)
		sids = append(sids, *m.Sid)
	}
	_, err := send(api, clinic, "+15557654321", "someone else")
	require.NoError(t, err)

	// twilio-go follows next_page_uri until it is null.
	list, err := api.ListMessage((&openapi.ListMessageParams{}).SetTo(patient).SetPageSize(3))
	require.NoError(t, err)
	var got []string
	for _, m := range list {
		got = append(got, *m.Sid)
	}
	want := make([]string, len(sids))
	for i, sid := range sids {
		want[len(sids)-1-i] = sid // newest first
	}
	assert.Equal(t, want, got)

	page, err := api.PageMessage((&openapi.ListMessageParams{}).SetTo(patient).SetPageSize(3), "", "")
	require.NoError(t, err)
	require.NotNil(t, page.NextPageUri)
	assert.Contains(t, *page.NextPageUri, "PageToken=PA"+want[2])
	assert.Contains(t, *page.NextPageUri, "Page=1")
	assert.Nil(t, page.PreviousPageUri)
	assert.Equal(t, 3, page.PageSize)

	lists := 0
	for _, r := range s.Requests() {
		if r.Op == twiliotest.List {
			lists++
		}
	}
	assert.Equal(t, 4, lists, "3 pages for ListMessage, 1 for PageMessage")
}

func TestListFiltersByDateSent(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	s := newServer(t, twiliotest.WithClock(func() time.Time { return now }))
	api := newAPI(t, s)

	old, err := send(api, clinic, patient, "yesterday")
	require.NoError(t, err)
	require.NoError(t, s.SetStatus(*old.Sid, "sent", 0))
	now = now.Add(2 * time.Hour) // 2026-03-02 01:00
	sent, err := send(api, clinic, patient, "today")
	require.NoError(t, err)
	require.NoError(t, s.SetStatus(*sent.Sid, "delivered", 0))
	queued, err := send(api, clinic, patient, "not yet sent")
	require.NoError(t, err)

	sidsOf := func(p *openapi.ListMessageParams) []string {
		t.Helper()
		list, err := api.ListMessage(p.SetTo(patient))
		require.NoError(t, err)
		var out []string
		for _, m := range list {
			out = append(out, *m.Sid)
		}
		return out
	}
	assert.Equal(t, []string{*queued.Sid, *sent.Sid, *old.Sid}, sidsOf(&openapi.ListMessageParams{}),
		"unsent first, then newest sent first")
	assert.Equal(t, []string{*sent.Sid},
		sidsOf((&openapi.ListMessageParams{}).SetDateSentAfter(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))),
		"DateSent> keeps messages sent since then; unsent ones have no DateSent")
	assert.Equal(t, []string{*old.Sid},
		sidsOf((&openapi.ListMessageParams{}).SetDateSentBefore(time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC))))
	assert.Equal(t, []string{*sent.Sid, *old.Sid},
		sidsOf((&openapi.ListMessageParams{}).SetDateSentAfter(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))))
}

func TestBasicAuthIsChecked(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s, func(c *client.Client) { c.Credentials = client.NewCredentials(s.AccountSID, "wrongtoken") })
	_, err := send(api, clinic, patient, "hi")
	te := restError(t, err)
	assert.Equal(t, 20003, te.Code)
	assert.Equal(t, 401, te.Status)
	assert.Empty(t, s.Messages())

	other := newAPI(t, s, func(c *client.Client) { c.SetAccountSid("AC00000000000000000000000000000002") })
	_, err = send(other, clinic, patient, "hi")
	assert.Equal(t, 20404, restError(t, err).Code, "another account's resources are not found")
}

func TestMagicNumbersFailLikeTestCredentials(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		code     int
	}{
		{"from invalid", twiliotest.FromInvalid, patient, 21212},
		{"from not owned", twiliotest.FromNotOwned, patient, 21606},
		{"from queue full", twiliotest.FromQueueFull, patient, 21611},
		{"to invalid", twiliotest.FromValid, twiliotest.ToInvalid, 21211},
		{"to unroutable", twiliotest.FromValid, twiliotest.ToUnroutable, 21612},
		{"to no permission", twiliotest.FromValid, twiliotest.ToNoPermission, 21408},
		{"to blocked", twiliotest.FromValid, twiliotest.ToBlocked, 21610},
		{"to not mobile", twiliotest.FromValid, twiliotest.ToNotMobile, 21614},
		{"to malformed", twiliotest.FromValid, "5551234567", 21211},
	}
	s := newServer(t)
	api := newAPI(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := send(api, tt.from, tt.to, "hi")
			te := restError(t, err)
			assert.Equal(t, tt.code, te.Code)
			assert.Equal(t, 400, te.Status)
			assert.Equal(t, "https://www.twilio.com/docs/errors/"+strconv.Itoa(tt.code), te.MoreInfo)
		})
	}
	assert.Empty(t, s.Messages())
}

func TestCreateValidatesLikeTwilio(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	_, err := send(api, clinic, patient, "")
	assert.Equal(t, 21602, restError(t, err).Code)
	_, err = send(api, clinic, patient, strings.Repeat("é", 1601))
	assert.Equal(t, 21617, restError(t, err).Code)
	_, err = api.CreateMessage((&openapi.CreateMessageParams{}).SetTo(patient).SetBody("hi"))
	assert.Equal(t, 21603, restError(t, err).Code)
	_, err = api.CreateMessage((&openapi.CreateMessageParams{}).SetFrom(clinic).SetBody("hi"))
	assert.Equal(t, 21604, restError(t, err).Code)

	m, err := send(api, clinic, patient, strings.Repeat("é", 1600))
	require.NoError(t, err, "the limit is 1,600 characters, not bytes")
	assert.Equal(t, "11", *m.NumSegments, "é is in the GSM-7 alphabet")

	svc := "MG00000000000000000000000000000001"
	m, err = api.CreateMessage((&openapi.CreateMessageParams{}).SetMessagingServiceSid(svc).SetTo(patient).SetBody("hi"))
	require.NoError(t, err)
	assert.Equal(t, "accepted", *m.Status)
	assert.Nil(t, m.From)
	assert.Equal(t, svc, *m.MessagingServiceSid)
}

func TestUnroutedRequestsGet404(t *testing.T) {
	s := newServer(t)
	req, err := http.NewRequest(http.MethodGet, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Calls.json", nil)
	require.NoError(t, err)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, twiliotest.Unrouted, s.Requests()[0].Op)
}

func TestOptions(t *testing.T) {
	sid, token := "AC0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	s := newServer(t, twiliotest.WithCredentials(sid, token), twiliotest.WithPageSize(2))
	assert.Equal(t, sid, s.AccountSID)
	assert.Equal(t, token, s.AuthToken)
	api := newAPI(t, s)
	for range 3 {
		_, err := send(api, clinic, patient, "hi")
		require.NoError(t, err)
	}
	page, err := api.PageMessage(&openapi.ListMessageParams{}, "", "")
	require.NoError(t, err)
	assert.Len(t, page.Messages, 2, "WithPageSize is the default page size")
	assert.NotNil(t, page.NextPageUri)
	for op, name := range map[twiliotest.Op]string{twiliotest.Create: "create", twiliotest.List: "list",
		twiliotest.Fetch: "fetch", twiliotest.Any: "any", twiliotest.Unrouted: "unrouted"} {
		assert.Equal(t, name, op.String())
	}
}

func TestListFiltersByDay(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	s := newServer(t, twiliotest.WithClock(func() time.Time { return now }))
	api := newAPI(t, s)
	first, err := send(api, clinic, patient, "first")
	require.NoError(t, err)
	require.NoError(t, s.SetStatus(*first.Sid, "sent", 0))
	now = now.Add(2 * time.Hour)
	second, err := send(api, clinic, patient, "second")
	require.NoError(t, err)
	require.NoError(t, s.SetStatus(*second.Sid, "sent", 0))

	get := func(query string) []string {
		t.Helper()
		status, page := getList(t, s, query)
		require.Equal(t, http.StatusOK, status)
		return sidsOf(page)
	}
	assert.Equal(t, []string{*first.Sid}, get("DateSent=2026-03-01"))
	assert.Equal(t, []string{*second.Sid}, get("DateSent%3E=2026-03-02"))
	assert.Equal(t, []string{*first.Sid}, get("DateSent%3C=2026-03-01"), "a date includes its whole day")
	assert.Empty(t, get("DateSent=2026-03-03"))

	_, err = api.ListMessage((&openapi.ListMessageParams{}).SetDateSent(now))
	require.NoError(t, err)
	status, _ := getList(t, s, "DateSent=yesterday")
	assert.Equal(t, http.StatusBadRequest, status)
}

// getList answers a raw list request, so that the page fields twilio-go
// hides (start, end, page) and the 400s can be checked.
func getList(t *testing.T, s *twiliotest.Server, query string) (int, openapi.ListMessageResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?"+query, nil)
	require.NoError(t, err)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var page openapi.ListMessageResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	return resp.StatusCode, page
}

func sidsOf(page openapi.ListMessageResponse) []string {
	out := []string{}
	for _, m := range page.Messages {
		out = append(out, *m.Sid)
	}
	return out
}

func TestListPageBoundaries(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	var sids []string // newest first
	for i := range 5 {
		if i == 2 {
			_, err := send(api, clinic, "+15557654321", "someone else, between the pages")
			require.NoError(t, err)
			_, err = send(api, "+15557770000", patient, "another clinic")
			require.NoError(t, err)
		}
		m, err := send(api, clinic, patient, "message "+strconv.Itoa(i))
		require.NoError(t, err)
		sids = append([]string{*m.Sid}, sids...)
	}
	mine := "To=%2B15551234567&From=%2B15005550006"

	status, page := getList(t, s, mine+"&PageSize=1")
	require.Equal(t, http.StatusOK, status, "PageSize 1 is Twilio's minimum")
	assert.Equal(t, sids[:1], sidsOf(page))
	assert.Equal(t, 0, page.Start)
	assert.Equal(t, 0, page.End)
	for _, bad := range []string{"PageSize=0", "PageSize=-1", "PageSize=x", "Page=-1", "Page=x", "PageToken=PASMnope", "PageToken=" + sids[0]} {
		status, _ = getList(t, s, mine+"&"+bad)
		assert.Equal(t, http.StatusBadRequest, status, bad)
	}

	status, page = getList(t, s, mine+"&PageSize=2&Page=0")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, sids[:2], sidsOf(page), "From and To both filter")
	assert.Equal(t, 0, page.Page)
	assert.Equal(t, 0, page.Start)
	assert.Equal(t, 1, page.End, "end is the index of the page's last message")
	assert.Nil(t, page.PreviousPageUri)
	require.NotNil(t, page.NextPageUri)
	next, err := url.Parse(*page.NextPageUri)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"To": {patient}, "From": {clinic}, "PageSize": {"2"}, "Page": {"1"},
		"PageToken": {"PA" + sids[1]}}, next.Query(), "the next page keeps the filters")
	first, err := url.Parse(page.FirstPageUri)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"To": {patient}, "From": {clinic}, "PageSize": {"2"}, "Page": {"0"}}, first.Query())

	status, page = getList(t, s, next.RawQuery)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, sids[2:4], sidsOf(page))
	assert.Equal(t, 1, page.Page)
	assert.Equal(t, 2, page.Start)
	assert.Equal(t, 3, page.End)
	require.NotNil(t, page.PreviousPageUri)
	prev, err := url.Parse(*page.PreviousPageUri)
	require.NoError(t, err)
	assert.Equal(t, "0", prev.Query().Get("Page"))

	status, page = getList(t, s, mine+"&PageSize=2&Page=2")
	require.Equal(t, http.StatusOK, status, "Page alone, without PageToken, skips Page*PageSize messages")
	assert.Equal(t, sids[4:], sidsOf(page))
	assert.Equal(t, 4, page.Start)
	assert.Equal(t, 4, page.End)
	assert.Nil(t, page.NextPageUri, "the last page has no next page")
	require.NotNil(t, page.PreviousPageUri)
	prev, err = url.Parse(*page.PreviousPageUri)
	require.NoError(t, err)
	assert.Equal(t, "1", prev.Query().Get("Page"))

	status, page = getList(t, s, mine+"&PageSize=2&Page=1&PageToken=PA"+sids[0])
	require.Equal(t, http.StatusOK, status, "a token names the message the page starts after")
	assert.Equal(t, sids[1:3], sidsOf(page))
	assert.Equal(t, 1, page.Start)

	status, page = getList(t, s, mine+"&PageSize=5")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, page.Messages, 5)
	assert.Nil(t, page.NextPageUri, "a page that holds the rest exactly is the last")

	status, page = getList(t, s, mine+"&PageSize=2&Page=9")
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, page.Messages)
	assert.Nil(t, page.NextPageUri)
}

func TestNumSegmentsCountsLikeTwilio(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name, body string
		want       string
	}{
		{"GSM-7 fits one segment", r("a", 160), "1"},
		{"GSM-7 one over", r("a", 161), "2"},
		{"GSM-7 two full parts", r("a", 306), "2"},
		{"GSM-7 one past two parts", r("a", 307), "3"},
		{"CR and LF are GSM-7", r("a\r\n", 53) + "a", "1"},
		{"accents in the GSM-7 alphabet", r("é", 1600), "11"},
		{"GSM-7 Greek and symbols", r("ΔΩ£¥¿¡§", 22) + "ab", "1"},
		{"extension characters take two septets", r("{", 80), "1"},
		{"extension characters over one segment", r("{", 81), "2"},
		{"an escape pair is not split across parts", r("a", 152) + "€" + r("a", 152), "3"},
		{"UCS-2 fits one segment", r("Ж", 70), "1"},
		{"UCS-2 one over", r("Ж", 71), "2"},
		{"UCS-2 two full parts", r("Ж", 134), "2"},
		{"UCS-2 one past two parts", r("Ж", 135), "3"},
		{"a backtick is not GSM-7", "`" + r("a", 79), "2"},
		{"a tab is not GSM-7", "\t" + r("a", 70), "2"},
		{"emoji take two UTF-16 units", r("😀", 35), "1"},
		{"emoji over one segment", r("😀", 36), "2"},
		{"a surrogate pair is not split across parts", r("Ж", 66) + "😀" + r("Ж", 66), "3"},
	}
	s := newServer(t)
	api := newAPI(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := send(api, clinic, patient, tt.body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, *m.NumSegments)
		})
	}
}

func TestStatusCallbackMustBeAbsoluteHTTP(t *testing.T) {
	s := newServer(t)
	api := newAPI(t, s)
	for _, u := range []string{"https://clinic.example.com/status", "http://clinic.example.com/status"} {
		_, err := api.CreateMessage((&openapi.CreateMessageParams{}).
			SetFrom(clinic).SetTo(patient).SetBody("hi").SetStatusCallback(u))
		assert.NoError(t, err, u)
	}
	for _, u := range []string{"ftp://clinic.example.com/status", "/status", "https:///status"} {
		_, err := api.CreateMessage((&openapi.CreateMessageParams{}).
			SetFrom(clinic).SetTo(patient).SetBody("hi").SetStatusCallback(u))
		assert.Equal(t, 21609, restError(t, err).Code, u)
	}
}

func TestWithPageSizeIgnoresNonPositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		s := newServer(t, twiliotest.WithPageSize(n))
		status, page := getList(t, s, "")
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, 50, page.PageSize, "Twilio's default")
	}
	s := newServer(t, twiliotest.WithPageSize(5000))
	_, page := getList(t, s, "")
	assert.Equal(t, 1000, page.PageSize, "Twilio's maximum")
	_, page = getList(t, s, "PageSize=1001")
	assert.Equal(t, 1000, page.PageSize)
}
