package twiliotest

import (
	"net/http"
	"regexp"
)

// Magic numbers: as with Twilio's test credentials, creating a message
// from or to one of these fails with the error Twilio documents for it.
// Every other From number is accepted and every other well-formed To number
// is sent to.
const (
	// FromInvalid fails with 21212: the From number is invalid.
	FromInvalid = "+15005550001"
	// FromNotOwned fails with 21606: not a number of the account, or not SMS-capable.
	FromNotOwned = "+15005550007"
	// FromQueueFull fails with 21611: the number's SMS queue is full.
	FromQueueFull = "+15005550008"
	// FromValid passes all validation.
	FromValid = "+15005550006"

	// ToInvalid fails with 21211: the To number is invalid.
	ToInvalid = "+15005550001"
	// ToUnroutable fails with 21612: Twilio cannot route to the number.
	ToUnroutable = "+15005550002"
	// ToNoPermission fails with 21408: no permission to send to the region.
	ToNoPermission = "+15005550003"
	// ToBlocked fails with 21610: the recipient unsubscribed (replied STOP).
	ToBlocked = "+15005550004"
	// ToNotMobile fails with 21614: the number cannot receive SMS.
	ToNotMobile = "+15005550009"
)

// e164 is what Twilio accepts as a To phone number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// magicFrom returns the failure of a magic From number.
func magicFrom(from string) (answer, bool) {
	switch from {
	case FromInvalid:
		return errorAnswer(http.StatusBadRequest, 21212, "The 'From' number "+from+
			" is not a valid phone number, shortcode, or alphanumeric sender ID."), true
	case FromNotOwned:
		return errorAnswer(http.StatusBadRequest, 21606, "The From phone number "+from+
			" is not a valid, SMS-capable inbound phone number or short code for your account."), true
	case FromQueueFull:
		return errorAnswer(http.StatusBadRequest, 21611,
			"This 'From' number has exceeded the maximum number of queued messages"), true
	}
	return answer{}, false
}

// magicTo returns the failure of a malformed or magic To number.
func magicTo(to, from string) (answer, bool) {
	switch {
	case to == ToInvalid || !e164.MatchString(to):
		return errorAnswer(http.StatusBadRequest, 21211, "The 'To' number "+to+" is not a valid phone number."), true
	case to == ToUnroutable:
		return errorAnswer(http.StatusBadRequest, 21612, "The 'To' phone number: "+to+
			", is not currently reachable using the 'From' phone number: "+from+" via SMS."), true
	case to == ToNoPermission:
		return errorAnswer(http.StatusBadRequest, 21408, "Permission to send an SMS has not been enabled"+
			" for the region indicated by the 'To' number: "+to+"."), true
	case to == ToBlocked:
		return errorAnswer(http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient"), true
	case to == ToNotMobile:
		return errorAnswer(http.StatusBadRequest, 21614, "'To' number "+to+" is not a valid mobile number"), true
	}
	return answer{}, false
}
