//! The TCP offload seam (FreeBSD's `tcp_offload.c`): where a connection is
//! handed to the NIC's TCP engine (`toedev`) and where the stack asks it to
//! send, receive and close. Empty today: the NIC has no engine yet
//! (`TOE_CONTEXTS` reads 0), so every connection stays in the host stack and
//! netstat's `toe4`/`toe6` rows never appear. The hooks go here, between
//! `tcp_output`/`tcp_input` and the driver, when the engine exists.
