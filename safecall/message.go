package safecall

import "errors"

// UserMessage returns a calm sentence about err that an AI agent can read to
// a person on the phone. It depends only on the class of the failure (see
// ClassOf), or on the sentence set with WithUserMessage for that class, and
// never reveals hosts, tokens, codes or other internal detail.
// UserMessage(nil) is "".
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.message != "" {
		return e.message
	}
	return DefaultUserMessage(ClassOf(err))
}

// DefaultUserMessage returns the sentence UserMessage gives for class c when
// no WithUserMessage replaces it.
func DefaultUserMessage(c Class) string {
	switch c {
	case Network:
		return "I'm having trouble reaching that system right now. Please try again in a moment."
	case Auth:
		return "I can't access that system at the moment. Someone from our team will need to reconnect it."
	case RateLimit:
		return "That system is very busy right now. Please try again in a minute."
	case Temporary:
		return "Our system is updating, please try again in a moment."
	case Permanent:
		return "I wasn't able to complete that request. Could you check the details and try again?"
	case CircuitOpen:
		return "That service is temporarily unavailable. Please try again in a few minutes."
	case Canceled:
		return "That request was stopped before it finished. Please try again."
	}
	return "Something went wrong on our side. Please try again in a moment."
}

// withMessage sets on e the sentence of the last WithUserMessage in opts for
// e's class, if any, and returns e.
func (e *Error) withMessage(opts []Option) *Error {
	for i := range opts {
		if o := &opts[i]; o.kind == optUserMessage && o.class == e.Class {
			e.message = o.s
		}
	}
	return e
}
