package recordclient

import (
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fill sets every field of m (one member of each oneof) to random values,
// descending depth levels into messages, so that a field added to the API
// is covered without editing this test.
func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if o := fd.ContainingOneof(); o != nil && o.Fields().Get(r.IntN(o.Fields().Len())) != fd {
			continue
		}
		switch {
		case fd.IsList():
			if fd.Message() != nil && depth == 0 {
				continue
			}
			list := m.Mutable(fd).List()
			for range 1 + r.IntN(3) {
				if fd.Message() != nil {
					e := list.NewElement()
					fill(r, e.Message(), depth-1)
					list.Append(e)
				} else {
					list.Append(scalar(r, fd))
				}
			}
		case fd.Message() != nil:
			if depth > 0 {
				fill(r, m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, scalar(r, fd))
		}
	}
}

// scalar is a random value of the scalar field fd.
func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString([]string{"", "a.b.cluster.local.", "svc/ns/name", "é", strings.Repeat("x", 300)}[r.IntN(5)])
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, 300, 1<<32 - 1}[r.IntN(4)])
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, 1 << 40, 1<<64 - 1}[r.IntN(4)])
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(7)))
	}
	panic("no random value for " + fd.FullName())
}

// TestDecodeStreamResponse decodes random LookupStreamResponses, every
// field set, exactly as proto.Unmarshal does, and without handing them to
// it.
func TestDecodeStreamResponse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	d := newStreamCodec().d
	for i := range 2000 {
		want := &clusterdnsv1.LookupStreamResponse{}
		fill(r, want.ProtoReflect(), 3)
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := &clusterdnsv1.LookupStreamResponse{}
		if !d.streamResponse(b, got) {
			t.Fatalf("message %d: not decoded: %v", i, want)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("message %d: decoded\n%v\nwant\n%v", i, got, want)
		}
	}
}

// TestStreamCodecUnusual: what the decoder does not take field by field
// (unknown fields, a oneof or singular message given twice, invalid UTF-8,
// a truncated message) comes out of the codec as proto.Unmarshal's result
// or error.
func TestStreamCodecUnusual(t *testing.T) {
	soa := func(rname string) []byte {
		b, err := proto.Marshal(&clusterdnsv1.ResourceRecord{Name: "cluster.local.", Data: &clusterdnsv1.ResourceRecord_Soa{
			Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: rname, Serial: 7}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	record := func(rr []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), rr)
	}
	response := func(resp []byte) []byte {
		b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 9)
		return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), resp)
	}
	ns, err := proto.Marshal(&clusterdnsv1.NSRecord{Target: "ns.example."})
	if err != nil {
		t.Fatal(err)
	}
	// proto.Marshal refuses invalid UTF-8: an SOA with such an rname,
	// written by hand.
	badSOA := protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType),
		protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("\xff.")))
	soaThenNS := protowire.AppendBytes(protowire.AppendTag(soa("a."), 10, protowire.BytesType), ns)
	for _, tt := range []struct {
		name string
		msg  []byte
	}{
		{"unknown field", protowire.AppendVarint(protowire.AppendTag(response(record(soa("h."))), 99, protowire.VarintType), 1)},
		{"oneof twice", response(record(soaThenNS))},
		{"response twice", append(response(record(soa("a."))), response(record(soa("b.")))[2:]...)},
		{"invalid UTF-8", response(record(badSOA))},
		{"truncated", response(record(soa("h.")))[:20]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := &clusterdnsv1.LookupStreamResponse{}
			wantErr := proto.Unmarshal(tt.msg, want)
			got := &clusterdnsv1.LookupStreamResponse{}
			err := newStreamCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(tt.msg)}, got)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, proto.Unmarshal's %v", err, wantErr)
			}
			if err == nil && !proto.Equal(got, want) {
				t.Fatalf("decoded\n%v\nproto.Unmarshal\n%v", got, want)
			}
		})
	}
}

// BenchmarkDecodeStreamResponse decodes an answer of the lookup stream to
// a name that does not exist (NXDOMAIN, the zone's SOA, two keys) with the
// protobuf runtime and directly (decoder).
func BenchmarkDecodeStreamResponse(b *testing.B) {
	msg := &clusterdnsv1.LookupStreamResponse{Id: 12345, AcceptsBatch: true, Response: &clusterdnsv1.LookupResponse{
		Result: clusterdnsv1.Result_RESULT_NAME_ERROR,
		Authority: []*clusterdnsv1.ResourceRecord{{Name: "cluster.local.", Ttl: 5, Data: &clusterdnsv1.ResourceRecord_Soa{
			Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1733540000,
				Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}}},
		Revision: 42, Keys: []string{"svc/ns07/missing-0025927", "ns/ns07"}, Ttl: 5, ServerId: "0123456789abcdef"}}
	wire, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(wire, &clusterdnsv1.LookupStreamResponse{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		d := newStreamCodec().d
		b.ReportAllocs()
		for b.Loop() {
			if !d.streamResponse(wire, &clusterdnsv1.LookupStreamResponse{}) {
				b.Fatal("not decoded")
			}
		}
	})
}
