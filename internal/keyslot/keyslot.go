// Package keyslot computes Redis Cluster hash slots, as CLUSTER KEYSLOT
// does, for code that places keys (the Redis broker's partitions) and for
// tests that check where they landed.
package keyslot

import "strings"

// Count is how many hash slots a Redis Cluster has.
const Count = 16384

// Of returns the hash slot of key: the CRC16 of the key modulo Count. If
// the key has a hash tag, a non-empty part between its first "{" and the
// first "}" after that, only the tag is hashed, so "{user1}.a" and
// "{user1}.b" share a slot
// (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
func Of(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	return int(crc16(key)) % Count
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the
// variant the cluster spec names. Bit by bit: keys are short and slots are
// computed off the hot path, so a table would be 512 bytes of noise.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
