// A page's h1. After a navigation inside the app, the first page heading that appears takes
// the keyboard focus, so keyboard and screen-reader users start at the new page's top
// (a page that loads first gets the focus once its heading shows).

import { useEffect, useRef, type ReactNode } from "react";
import { takeFocusRequest } from "../router";

export function PageHeading({ children }: { children: ReactNode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocusRequest()) heading.current?.focus();
  }, []);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {children}
    </h1>
  );
}
