// Command judge checks a seal log written as C2SP tlog-tiles in a directory with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog, independently of the Rust that wrote it:
// every checkpoint opens under the log's verifier key; the entry bundles hash (tlog.StoredHashes,
// tlog.TreeHash) to each checkpoint's root; every hash tile holds exactly the hashes tlog
// says it must; each checkpoint extends the one before it (tlog.CheckTree); and each entry is
// in the last one (tlog.CheckRecord).
//
// Usage: judge DIR VKEY CHECKPOINT... (checkpoints in order of size, the last covering DIR).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type hashes map[int64]tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		hash, ok := h[index]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", index)
		}
		out[i] = hash
	}
	return out, nil
}

// indexPath writes N as C2SP tlog-tiles does: groups of three digits, x before all but the last.
func indexPath(n int64) string {
	path := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		path = fmt.Sprintf("x%03d/%s", n%1000, path)
	}
	return path
}

func tilePath(kind string, n int64, width int64) string {
	path := "tile/" + kind + "/" + indexPath(n)
	if width < 256 {
		path += ".p/" + strconv.FormatInt(width, 10)
	}
	return path
}

type checkpoint struct {
	size int64
	root tlog.Hash
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: judge DIR VKEY CHECKPOINT...")
	}
	dir, vkey := os.Args[1], os.Args[2]
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	var checkpoints []checkpoint
	for _, file := range os.Args[3:] {
		data, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		opened, err := note.Open(data, note.VerifierList(verifier))
		if err != nil {
			fail("%s does not open: %v", file, err)
		}
		lines := strings.Split(opened.Text, "\n")
		if len(lines) < 4 || lines[0] != verifier.Name() {
			fail("%s: not a checkpoint of %s", file, verifier.Name())
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil {
			fail("%s: size: %v", file, err)
		}
		raw, err := base64.StdEncoding.DecodeString(lines[2])
		if err != nil || len(raw) != tlog.HashSize {
			fail("%s: root: %v", file, err)
		}
		var root tlog.Hash
		copy(root[:], raw)
		checkpoints = append(checkpoints, checkpoint{size, root})
	}
	last := checkpoints[len(checkpoints)-1].size

	// The entries, from their bundles, hashed into Go's own stored hashes.
	stored := hashes{}
	var records []tlog.Hash
	for n := int64(0); n*256 < last; n++ {
		width := last - n*256
		if width > 256 {
			width = 256
		}
		bundle, err := os.ReadFile(filepath.Join(dir, tilePath("entries", n, width)))
		if err != nil {
			fail("%v", err)
		}
		for i := int64(0); i < width; i++ {
			if len(bundle) < 2 {
				fail("entry bundle %d ends early", n)
			}
			length := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+length {
				fail("entry bundle %d ends early", n)
			}
			entry := bundle[2 : 2+length]
			bundle = bundle[2+length:]
			index := int64(len(records))
			added, err := tlog.StoredHashes(index, entry, stored)
			if err != nil {
				fail("%v", err)
			}
			for k, hash := range added {
				stored[tlog.StoredHashIndex(0, index)+int64(k)] = hash
			}
			records = append(records, tlog.RecordHash(entry))
		}
		if len(bundle) != 0 {
			fail("entry bundle %d has bytes after its entries", n)
		}
	}

	// Every hash tile of the last size holds what tlog says.
	for level := 0; last>>(8*level) > 0; level++ {
		count := last >> (8 * level)
		for n := int64(0); n*256 < count; n++ {
			width := count - n*256
			if width > 256 {
				width = 256
			}
			tile, err := os.ReadFile(filepath.Join(dir, tilePath(strconv.Itoa(level), n, width)))
			if err != nil {
				fail("%v", err)
			}
			var expected []byte
			for i := int64(0); i < width; i++ {
				hash := stored[tlog.StoredHashIndex(8*level, n*256+i)]
				expected = append(expected, hash[:]...)
			}
			if !bytes.Equal(tile, expected) {
				fail("hash tile %s is not what the entries make", tilePath(strconv.Itoa(level), n, width))
			}
		}
	}

	// Each checkpoint's root is the entries' tree at its size, and extends the one before.
	for i, c := range checkpoints {
		root, err := tlog.TreeHash(c.size, stored)
		if err != nil || root != c.root {
			fail("checkpoint %d (size %d) is not the tree of the entries", i, c.size)
		}
		if i > 0 {
			before := checkpoints[i-1]
			proof, err := tlog.ProveTree(c.size, before.size, stored)
			if err != nil {
				fail("%v", err)
			}
			if err := tlog.CheckTree(proof, c.size, c.root, before.size, before.root); err != nil {
				fail("checkpoint %d does not extend checkpoint %d: %v", i, i-1, err)
			}
		}
	}
	final := checkpoints[len(checkpoints)-1]
	for n, record := range records {
		proof, err := tlog.ProveRecord(final.size, int64(n), stored)
		if err != nil {
			fail("%v", err)
		}
		if err := tlog.CheckRecord(proof, final.size, final.root, int64(n), record); err != nil {
			fail("entry %d is not in the log: %v", n, err)
		}
	}
	fmt.Printf("OK %d entries, %d checkpoints\n", len(records), len(checkpoints))
}
