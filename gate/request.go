package gate

import (
	"fmt"
	"slices"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// actionType is the Cedar entity type of every action: policies write
// Action::"vendor_payment.release".
const actionType = types.EntityType("Action")

// toCedar converts the request, rejecting anything a policy could
// misinterpret rather than guessing.
func (r Request) toCedar() (cedar.Request, error) {
	principal, err := r.Principal.uid("principal")
	if err != nil {
		return cedar.Request{}, err
	}
	resource, err := r.Resource.uid("resource")
	if err != nil {
		return cedar.Request{}, err
	}
	if r.Action == "" {
		return cedar.Request{}, fmt.Errorf("%w: empty action", ErrInvalidRequest)
	}
	ctx, err := toRecord("", r.Context)
	if err != nil {
		return cedar.Request{}, err
	}
	return cedar.Request{
		Principal: principal,
		Action:    types.NewEntityUID(actionType, types.String(r.Action)),
		Resource:  resource,
		Context:   ctx,
	}, nil
}

func (e Entity) uid(role string) (types.EntityUID, error) {
	typ, err := types.NewEntityType(e.Type)
	if err != nil {
		return types.EntityUID{}, fmt.Errorf("%w: %s type: %w", ErrInvalidRequest, role, err)
	}
	if e.ID == "" {
		return types.EntityUID{}, fmt.Errorf("%w: %s %s has an empty id", ErrInvalidRequest, role, e.Type)
	}
	return types.NewEntityUID(typ, types.String(e.ID)), nil
}

// toRecord converts a context map. prefix is the dotted path of the enclosing
// record, so an error names the exact key. Keys are visited in order so the
// same bad request always reports the same key.
func toRecord(prefix string, m map[string]any) (types.Record, error) {
	rm := make(types.RecordMap, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := toValue(prefix+k, m[k])
		if err != nil {
			return types.Record{}, err
		}
		rm[types.String(k)] = v
	}
	return types.NewRecord(rm), nil
}

func toValue(key string, v any) (types.Value, error) {
	switch v := v.(type) {
	case string:
		return types.String(v), nil
	case bool:
		return types.Boolean(v), nil
	case int:
		return types.Long(v), nil
	case int64:
		return types.Long(v), nil
	case []string:
		vals := make([]types.Value, len(v))
		for i, s := range v {
			vals[i] = types.String(s)
		}
		return types.NewSet(vals...), nil
	case map[string]any:
		return toRecord(key+".", v)
	default:
		return nil, fmt.Errorf("%w: context key %q has unsupported type %T", ErrInvalidRequest, key, v)
	}
}
