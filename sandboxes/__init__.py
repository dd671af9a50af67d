"""Stand-ins for Employment Hero (eh.py) and Tribal Habits (th.py) that keep their contracts
(../shared/contracts), served over real HTTP by serve.py for tests and the development demo.
Not part of thsync: the server never imports them."""
