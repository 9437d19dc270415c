package recordclient

import (
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Every cache miss decodes a LookupStreamResponse, and the protobuf
// runtime's table-driven decoder (a oneof's wrapper made through
// reflection, each field found through its tables) was the largest cost
// of the lookup stream in the frontend. streamCodec decodes the answers of
// the lookup stream directly from the wire format into the generated
// types. It takes only what it knows field by field: anything else (a
// field it does not know, an unexpected wire type, a singular message or a
// oneof given twice, which protobuf merges, invalid UTF-8) sends the whole
// message to proto.Unmarshal, so the result is always proto.Unmarshal's.
// Questions are encoded by the protobuf runtime.
//
// Most strings of the answers repeat from one answer to the next (the
// server id, the zone's SOA names, a namespace's key, a Service's name and
// addresses): short ones are looked up in a small table of the strings
// decoded last and shared, which saves an allocation per string per miss
// and holds one copy of each in the cache.

// streamCodec is the codec of the lookup stream (lookupStreamCodec).
type streamCodec struct {
	proto encoding.CodecV2
	d     *decoder
}

func newStreamCodec() streamCodec {
	return streamCodec{proto: encoding.GetCodecV2("proto"), d: &decoder{seed: maphash.MakeSeed()}}
}

// Bounds of the shared strings: their number (a power of two) and their
// length.
const (
	sharedStrings   = 256
	sharedStringLen = 64
)

// decoder decodes lookup stream answers. Streams of one client may decode
// at once (a broken stream's last answer and its successor's first), so
// the table is read and written atomically; a string found there is
// compared in full before it is used.
type decoder struct {
	seed    maphash.Seed
	strings [sharedStrings]atomic.Pointer[string]
}

// lookupStreamCodec is the call option that makes the lookup stream use
// streamCodec.
func lookupStreamCodec() grpc.CallOption { return grpc.ForceCodecV2(newStreamCodec()) }

// Name is the content-subtype, the protobuf codec's: the server decodes
// and encodes as for any client.
func (streamCodec) Name() string { return "proto" }

func (c streamCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c streamCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*clusterdnsv1.LookupStreamResponse)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if c.d.streamResponse(b, m) {
		return nil
	}
	proto.Reset(m)
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("lookup stream response: %w", err)
	}
	return nil
}

// fields calls f with each field of the message b: its number, its wire
// type, its value when a varint and its bytes when length-delimited. It
// reports false when b is malformed, has a field of another wire type, or
// f refuses a field.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var (
			v uint64
			p []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default:
			return false
		}
		if n < 0 || !f(num, typ, v, p) {
			return false
		}
		b = b[n:]
	}
	return true
}

// text is p as a string field's value, shared when it is short; false
// when it is not UTF-8, which proto.Unmarshal refuses.
func (d *decoder) text(p []byte) (string, bool) {
	if len(p) > sharedStringLen {
		return string(p), utf8.Valid(p)
	}
	slot := &d.strings[maphash.Bytes(d.seed, p)%sharedStrings]
	if s := slot.Load(); s != nil && *s == string(p) {
		return *s, true
	}
	if !utf8.Valid(p) {
		return "", false
	}
	s := string(p)
	slot.Store(&s)
	return s, true
}

// The wire types of the fields decoded here.
const (
	varint = protowire.VarintType
	length = protowire.BytesType
)

func (d *decoder) streamResponse(b []byte, m *clusterdnsv1.LookupStreamResponse) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
		ok := true
		switch {
		case num == 1 && typ == varint:
			m.Id = v
		case num == 2 && typ == length && m.Response == nil:
			m.Response = new(clusterdnsv1.LookupResponse)
			ok = d.response(p, m.Response)
		case num == 3 && typ == length:
			m.InvalidArgument, ok = d.text(p)
		case num == 4 && typ == length:
			sub := new(clusterdnsv1.LookupStreamResponse)
			m.Batch = append(m.Batch, sub)
			ok = d.streamResponse(p, sub)
		case num == 5 && typ == varint:
			m.AcceptsBatch = v != 0
		default:
			ok = false
		}
		return ok
	})
}

func (d *decoder) response(b []byte, m *clusterdnsv1.LookupResponse) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
		ok := true
		var s string
		switch {
		case typ == varint && num == 1:
			m.Result = clusterdnsv1.Result(int32(v))
		case typ == varint && num == 5:
			m.Revision = v
		case typ == varint && num == 7:
			m.Ttl = uint32(v)
		case typ == varint && num == 10:
			m.Truncated = v != 0
		case typ == varint && num == 11:
			m.ClientSpecific = v != 0
		case typ == varint && num == 12:
			m.ZoneDependent = v != 0
		case typ == length && num >= 2 && num <= 4:
			rr := new(clusterdnsv1.ResourceRecord)
			switch num {
			case 2:
				m.Answer = append(m.Answer, rr)
			case 3:
				m.Authority = append(m.Authority, rr)
			default:
				m.Additional = append(m.Additional, rr)
			}
			ok = d.record(p, rr)
		case typ == length && num == 6:
			s, ok = d.text(p)
			m.Keys = append(m.Keys, s)
		case typ == length && num == 8:
			m.ServerId, ok = d.text(p)
		case typ == length && num == 9:
			m.AutopathNamespace, ok = d.text(p)
		case typ == length && num == 13:
			m.Zone, ok = d.text(p)
		case typ == length && num == 14 && m.AbsentBelow == nil:
			m.AbsentBelow = new(clusterdnsv1.AbsentBelow)
			ok = d.absentBelow(p, m.AbsentBelow)
		default:
			ok = false
		}
		return ok
	})
}

// absentBelow decodes a namespace's directory. Its labels are not looked
// up in the shared strings: there are many, each asked about rarely.
func (d *decoder) absentBelow(b []byte, m *clusterdnsv1.AbsentBelow) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) bool {
		switch {
		case num == 1 && typ == length:
			var ok bool
			m.Apex, ok = d.text(p)
			return ok
		case num == 2 && typ == length:
			m.Labels = append(m.Labels, string(p))
			return utf8.Valid(p)
		case num == 3 && typ == length:
			s, ok := d.text(p)
			m.Keys = append(m.Keys, s)
			return ok
		default:
			return false
		}
	})
}

func (d *decoder) record(b []byte, m *clusterdnsv1.ResourceRecord) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
		switch {
		case num == 1 && typ == length:
			var ok bool
			m.Name, ok = d.text(p)
			return ok
		case num == 2 && typ == varint:
			m.Ttl = uint32(v)
			return true
		case typ != length || m.Data != nil:
			return false
		}
		switch num {
		case 3:
			r := new(clusterdnsv1.ARecord)
			m.Data = &clusterdnsv1.ResourceRecord_A{A: r}
			return d.target(p, &r.Address)
		case 4:
			r := new(clusterdnsv1.AAAARecord)
			m.Data = &clusterdnsv1.ResourceRecord_Aaaa{Aaaa: r}
			return d.target(p, &r.Address)
		case 5:
			r := new(clusterdnsv1.SRVRecord)
			m.Data = &clusterdnsv1.ResourceRecord_Srv{Srv: r}
			return d.srv(p, r)
		case 6:
			r := new(clusterdnsv1.PTRRecord)
			m.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: r}
			return d.target(p, &r.Target)
		case 7:
			r := new(clusterdnsv1.CNAMERecord)
			m.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: r}
			return d.target(p, &r.Target)
		case 8:
			r := new(clusterdnsv1.TXTRecord)
			m.Data = &clusterdnsv1.ResourceRecord_Txt{Txt: r}
			return d.txt(p, r)
		case 9:
			r := new(clusterdnsv1.SOARecord)
			m.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: r}
			return d.soa(p, r)
		case 10:
			r := new(clusterdnsv1.NSRecord)
			m.Data = &clusterdnsv1.ResourceRecord_Ns{Ns: r}
			return d.target(p, &r.Target)
		}
		return false
	})
}

// target decodes a record whose only field is the string 1 (an
// address or a target name) into s.
func (d *decoder) target(b []byte, s *string) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) bool {
		if num != 1 || typ != length {
			return false
		}
		var ok bool
		*s, ok = d.text(p)
		return ok
	})
}

func (d *decoder) srv(b []byte, m *clusterdnsv1.SRVRecord) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
		switch {
		case typ == varint && num == 1:
			m.Priority = uint32(v)
		case typ == varint && num == 2:
			m.Weight = uint32(v)
		case typ == varint && num == 3:
			m.Port = uint32(v)
		case typ == length && num == 4:
			var ok bool
			m.Target, ok = d.text(p)
			return ok
		default:
			return false
		}
		return true
	})
}

func (d *decoder) txt(b []byte, m *clusterdnsv1.TXTRecord) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) bool {
		if num != 1 || typ != length {
			return false
		}
		s, ok := d.text(p)
		m.Values = append(m.Values, s)
		return ok
	})
}

func (d *decoder) soa(b []byte, m *clusterdnsv1.SOARecord) bool {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) bool {
		ok := true
		switch {
		case typ == length && num == 1:
			m.Mname, ok = d.text(p)
		case typ == length && num == 2:
			m.Rname, ok = d.text(p)
		case typ == varint && num == 3:
			m.Serial = uint32(v)
		case typ == varint && num == 4:
			m.Refresh = uint32(v)
		case typ == varint && num == 5:
			m.Retry = uint32(v)
		case typ == varint && num == 6:
			m.Expire = uint32(v)
		case typ == varint && num == 7:
			m.Minimum = uint32(v)
		default:
			ok = false
		}
		return ok
	})
}
