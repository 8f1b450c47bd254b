"""The damage generator of issue 31: what voxpop wrote (runs, exports, caches, corpora) damaged every way a copy,
a hand edit or an attacker damages it, and each verb that reads it back stopping with a located error."""
