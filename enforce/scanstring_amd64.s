//go:build !purego

#include "textflag.h"

// The bytes the compares are made against: '"', '\\', 0x20.
DATA specialConsts<>+0(SB)/4, $0x00205c22
GLOBL specialConsts<>(SB), RODATA|NOPTR, $4

// func indexSpecialAVX2(b []byte) int
//
// The index of the first byte of b that scanString must look at ('"', '\\',
// a control byte < 0x20, or a byte >= 0x80) among the whole 32-byte blocks
// of b; len(b)&^31 if there is none there. Bytes past the last whole block
// are never read: the caller finishes them with the word loop, and a read
// past the end of b could cross into an unmapped page.
//
// Per 32 bytes: two VPCMPEQB (quote, backslash) and one signed VPCMPGTB,
// which flags both the control bytes and, as negative int8, the bytes
// >= 0x80. The main loop does 64 bytes (two YMM) per branch.
TEXT ·indexSpecialAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), DX
	ANDQ $~31, DX          // bytes in whole blocks
	XORQ AX, AX            // index of the current block

	VPBROADCASTB specialConsts<>+0(SB), Y1 // '"'
	VPBROADCASTB specialConsts<>+1(SB), Y2 // '\\'
	VPBROADCASTB specialConsts<>+2(SB), Y3 // 0x20: 0x20 > b as int8 is b < 0x20 or b >= 0x80

loop64:
	LEAQ 64(AX), R8
	CMPQ R8, DX
	JA   tail32
	VMOVDQU (SI)(AX*1), Y4
	VMOVDQU 32(SI)(AX*1), Y5
	VPCMPEQB Y4, Y1, Y6
	VPCMPEQB Y4, Y2, Y7
	VPCMPGTB Y4, Y3, Y8
	VPOR     Y6, Y7, Y6
	VPOR     Y6, Y8, Y6    // Y6: special bytes of the first 32
	VPCMPEQB Y5, Y1, Y9
	VPCMPEQB Y5, Y2, Y10
	VPCMPGTB Y5, Y3, Y11
	VPOR     Y9, Y10, Y9
	VPOR     Y9, Y11, Y9   // Y9: special bytes of the second 32
	VPOR     Y6, Y9, Y10
	VPTEST   Y10, Y10
	JNZ      found64
	MOVQ     R8, AX
	JMP      loop64

found64:
	VPMOVMSKB Y6, CX
	VPMOVMSKB Y9, R9
	SHLQ      $32, R9
	ORQ       R9, CX
	BSFQ      CX, CX       // CX != 0
	ADDQ      CX, AX
	JMP       done

tail32:
	// At most one whole block is left (DX-AX is 0 or 32).
	CMPQ AX, DX
	JAE  done
	VMOVDQU  (SI)(AX*1), Y4
	VPCMPEQB Y4, Y1, Y6
	VPCMPEQB Y4, Y2, Y7
	VPCMPGTB Y4, Y3, Y8
	VPOR     Y6, Y7, Y6
	VPOR     Y6, Y8, Y6
	VPMOVMSKB Y6, CX
	TESTL    CX, CX
	JZ       none
	BSFL     CX, CX
	ADDQ     CX, AX
	JMP      done

none:
	MOVQ DX, AX

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
